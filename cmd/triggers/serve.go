package main

import (
	"context"
	"log/slog"
	"os"

	triggers "github.com/triggersapi/triggers"
	triggershttp "github.com/triggersapi/triggers/http"
	"github.com/triggersapi/triggers/internal/app"
)

// serve runs the API server until SIGINT or SIGTERM.
func (m *Main) serve(ctx context.Context, args []string) error {
	var cfg app.Config
	fs := m.newFlagSet("serve")
	m.storeFlags(fs, &cfg)
	fs.BoolVar(&cfg.CreateTables, "create-tables", false, "with --store dynamodb: create missing tables at start")
	fs.StringVar(&cfg.Addr, "addr", m.env("TRIGGERS_ADDR", ":8080"), "listen address (env TRIGGERS_ADDR)")
	fs.StringVar(&cfg.DevKey, "dev-key", m.env("TRIGGERS_DEV_KEY", ""), "make sure an API key with this value exists, tenant dev (env TRIGGERS_DEV_KEY)")
	fs.DurationVar(&cfg.Retention, "retention", 0, "how long events are kept, e.g. 168h (env TRIGGERS_RETENTION; default 168h)")
	trusted := fs.String("trusted-proxies", m.env("TRIGGERS_TRUSTED_PROXIES", ""),
		"comma-separated IPs/CIDRs of proxies whose X-Forwarded-For and X-Real-IP are believed (env TRIGGERS_TRUSTED_PROXIES; default none)")
	defLimit := fs.Int("default-rate-limit", 0, "requests per minute of a key without its own limit (env TRIGGERS_DEFAULT_RATE_LIMIT; default 1000)")
	fs.StringVar(&cfg.RateLimiter, "rate-limiter", m.env("TRIGGERS_RATE_LIMITER", "auto"),
		"where rate-limit state lives: auto (in-process on sqlite, DynamoDB on dynamodb), local, dynamodb, off (env TRIGGERS_RATE_LIMITER)")
	failClosed := fs.Bool("rate-limit-fail-closed", false, "refuse requests (503) when the rate limiter's store fails, instead of admitting them (env TRIGGERS_RATE_LIMIT_FAIL_CLOSED)")
	cors := fs.String("cors-origins", m.env("TRIGGERS_CORS_ORIGINS", ""),
		`comma-separated origins (scheme://host[:port]) browsers may call the API from, or "*" for any (env TRIGGERS_CORS_ORIGINS; default none: CORS off)`)
	level := fs.String("log-level", m.env("TRIGGERS_LOG_LEVEL", "info"), "log level: debug, info, warn, error (env TRIGGERS_LOG_LEVEL)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("serve takes no arguments, got %q", fs.Args())
	}
	var err error
	if !flagSet(fs, "retention") {
		if cfg.Retention, err = m.durationEnv("TRIGGERS_RETENTION", 0); err != nil {
			return err
		}
	}
	if cfg.Retention < 0 {
		return usagef("--retention must be positive")
	}
	if !flagSet(fs, "default-rate-limit") || !flagSet(fs, "rate-limit-fail-closed") {
		def, closed, err := app.RateLimitFromEnv(m.Getenv)
		if err != nil {
			return usageError{err}
		}
		cfg.DefaultRateLimit, cfg.RateLimitFailClosed = def, closed
	}
	if flagSet(fs, "default-rate-limit") {
		if *defLimit < 1 || triggers.ValidateRateLimit(*defLimit) != nil {
			return usagef("--default-rate-limit must be from 1 to %d", triggers.MaxRateLimit)
		}
		cfg.DefaultRateLimit = *defLimit
	}
	if flagSet(fs, "rate-limit-fail-closed") {
		cfg.RateLimitFailClosed = *failClosed
	}
	if cfg.TrustedProxies, err = triggers.ParseAllowlist(*trusted); err != nil {
		return usagef("--trusted-proxies: %s", triggers.ErrorMessage(err))
	}
	if cfg.CORSOrigins, err = triggershttp.ParseCORSOrigins(*cors); err != nil {
		return usagef("--cors-origins: %v", err)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return usagef("--log-level %q: %v", *level, err)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))

	a, err := app.Open(cfg, logger)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.Bootstrap(ctx); err != nil {
		return err
	}
	return a.Serve(ctx, nil)
}
