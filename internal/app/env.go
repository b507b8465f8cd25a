package app

import (
	"fmt"
	"log/slog"
	"strconv"
	"time"

	triggers "github.com/triggersapi/triggers"
	triggershttp "github.com/triggersapi/triggers/http"
)

// ConfigFromEnv builds a Config from the environment variables that
// `triggers serve` reads as flag defaults: TRIGGERS_ADDR, TRIGGERS_DATA_DIR,
// TRIGGERS_STORE (defaultStore when unset), TRIGGERS_STAGE,
// TRIGGERS_DYNAMODB_ENDPOINT, TRIGGERS_RETENTION, TRIGGERS_DEV_KEY,
// TRIGGERS_TRUSTED_PROXIES, TRIGGERS_DEFAULT_RATE_LIMIT, TRIGGERS_RATE_LIMITER,
// TRIGGERS_RATE_LIMIT_FAIL_CLOSED and TRIGGERS_CORS_ORIGINS. getenv is usually
// os.Getenv. Unset values keep Config's defaults; a malformed value is an
// error naming the variable.
func ConfigFromEnv(getenv func(string) string, defaultStore string) (Config, error) {
	cfg := Config{
		Addr:             getenv("TRIGGERS_ADDR"),
		DataDir:          getenv("TRIGGERS_DATA_DIR"),
		Store:            getenv("TRIGGERS_STORE"),
		Stage:            getenv("TRIGGERS_STAGE"),
		DynamoDBEndpoint: getenv("TRIGGERS_DYNAMODB_ENDPOINT"),
		DevKey:           getenv("TRIGGERS_DEV_KEY"),
		RateLimiter:      getenv("TRIGGERS_RATE_LIMITER"),
	}
	var err error
	if cfg.DefaultRateLimit, cfg.RateLimitFailClosed, err = RateLimitFromEnv(getenv); err != nil {
		return Config{}, err
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
	if cfg.CORSOrigins, err = triggershttp.ParseCORSOrigins(getenv("TRIGGERS_CORS_ORIGINS")); err != nil {
		return Config{}, fmt.Errorf("TRIGGERS_CORS_ORIGINS: %v", err)
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

// RateLimitFromEnv parses TRIGGERS_DEFAULT_RATE_LIMIT (0 when unset: the
// default) and TRIGGERS_RATE_LIMIT_FAIL_CLOSED (false when unset).
func RateLimitFromEnv(getenv func(string) string) (defaultLimit int, failClosed bool, err error) {
	if v := getenv("TRIGGERS_DEFAULT_RATE_LIMIT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || triggers.ValidateRateLimit(n) != nil {
			return 0, false, fmt.Errorf("TRIGGERS_DEFAULT_RATE_LIMIT=%q is not a limit from 1 to %d requests per minute", v, triggers.MaxRateLimit)
		}
		defaultLimit = n
	}
	if v := getenv("TRIGGERS_RATE_LIMIT_FAIL_CLOSED"); v != "" {
		if failClosed, err = strconv.ParseBool(v); err != nil {
			return 0, false, fmt.Errorf("TRIGGERS_RATE_LIMIT_FAIL_CLOSED=%q is not true or false", v)
		}
	}
	return defaultLimit, failClosed, nil
}
