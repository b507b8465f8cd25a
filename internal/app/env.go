package app

import (
	"fmt"
	"log/slog"
	"time"

	triggers "github.com/triggersapi/triggers"
)

// ConfigFromEnv builds a Config from the environment variables that
// `triggers serve` reads as flag defaults: TRIGGERS_ADDR, TRIGGERS_DATA_DIR,
// TRIGGERS_STORE (defaultStore when unset), TRIGGERS_STAGE,
// TRIGGERS_DYNAMODB_ENDPOINT, TRIGGERS_RETENTION, TRIGGERS_DEV_KEY and
// TRIGGERS_TRUSTED_PROXIES. getenv is usually os.Getenv. Unset values keep
// Config's defaults; a malformed value is an error naming the variable.
func ConfigFromEnv(getenv func(string) string, defaultStore string) (Config, error) {
	cfg := Config{
		Addr:             getenv("TRIGGERS_ADDR"),
		DataDir:          getenv("TRIGGERS_DATA_DIR"),
		Store:            getenv("TRIGGERS_STORE"),
		Stage:            getenv("TRIGGERS_STAGE"),
		DynamoDBEndpoint: getenv("TRIGGERS_DYNAMODB_ENDPOINT"),
		DevKey:           getenv("TRIGGERS_DEV_KEY"),
	}
	if cfg.Store == "" {
		cfg.Store = defaultStore
	}
	if v := getenv("TRIGGERS_RETENTION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return Config{}, fmt.Errorf("TRIGGERS_RETENTION=%q is not a positive Go duration such as 168h", v)
		}
		cfg.Retention = d
	}
	if v := getenv("TRIGGERS_TRUSTED_PROXIES"); v != "" {
		p, err := triggers.ParseAllowlist(v)
		if err != nil {
			return Config{}, fmt.Errorf("TRIGGERS_TRUSTED_PROXIES: %s", triggers.ErrorMessage(err))
		}
		cfg.TrustedProxies = p
	}
	cfg.defaults()
	return cfg, nil
}

// LogLevelFromEnv parses TRIGGERS_LOG_LEVEL (debug, info, warn, error;
// default info).
func LogLevelFromEnv(getenv func(string) string) (slog.Level, error) {
	var lvl slog.Level
	v := getenv("TRIGGERS_LOG_LEVEL")
	if v == "" {
		return slog.LevelInfo, nil
	}
	if err := lvl.UnmarshalText([]byte(v)); err != nil {
		return 0, fmt.Errorf("TRIGGERS_LOG_LEVEL=%q: %v", v, err)
	}
	return lvl, nil
}
