package app_test

import (
	"flag"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/triggersapi/triggers/internal/app"
)

// parseServe parses args and env as `triggers serve` does.
func parseServe(t *testing.T, env map[string]string, args ...string) (app.Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flags := app.NewFlags(fs, app.ServeSettings...)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("flag parse %q: %v", args, err)
	}
	return flags.Config(func(k string) string { return env[k] })
}

// TestFlags_Config checks that every setting reaches Config from its flag
// and from its variable alike, and that the flag wins.
func TestFlags_Config(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		check func(app.Config) bool
	}{
		{"Defaults", nil, nil, func(c app.Config) bool {
			return c.Store == "" && c.Retention == 0 && c.LogLevel == slog.LevelInfo && c.CORS.String() == ""
		}},
		{"AddrEnv", map[string]string{"TRIGGERS_ADDR": ":9"}, nil, func(c app.Config) bool { return c.Addr == ":9" }},
		{"AddrFlagWins", map[string]string{"TRIGGERS_ADDR": ":9"}, []string{"--addr", ":10"}, func(c app.Config) bool { return c.Addr == ":10" }},
		{"EmptyEnvIsUnset", map[string]string{"TRIGGERS_STORE": ""}, nil, func(c app.Config) bool { return c.Store == "" }},
		{"StoreEnv", map[string]string{"TRIGGERS_STORE": "dynamodb"}, nil, func(c app.Config) bool { return c.Store == "dynamodb" }},
		{"StageAndEndpoint", nil, []string{"--stage", "prod", "--dynamodb-endpoint", "http://127.0.0.1:4567"},
			func(c app.Config) bool { return c.Stage == "prod" && c.DynamoDBEndpoint == "http://127.0.0.1:4567" }},
		{"CreateTables", nil, []string{"--create-tables"}, func(c app.Config) bool { return c.CreateTables }},
		{"RetentionEnv", map[string]string{"TRIGGERS_RETENTION": "24h"}, nil, func(c app.Config) bool { return c.Retention == 24*time.Hour }},
		{"RetentionZeroIsDefault", nil, []string{"--retention", "0"}, func(c app.Config) bool { return c.Retention == 0 }},
		{"BadRetentionEnvHiddenByFlag", map[string]string{"TRIGGERS_RETENTION": "soon"}, []string{"--retention", "1h"},
			func(c app.Config) bool { return c.Retention == time.Hour }},
		{"TrustedProxies", map[string]string{"TRIGGERS_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1"}, nil,
			func(c app.Config) bool {
				return len(c.TrustedProxies) == 2 && c.TrustedProxies[1] == netip.MustParsePrefix("192.0.2.1/32")
			}},
		{"DefaultRateLimitEnv", map[string]string{"TRIGGERS_DEFAULT_RATE_LIMIT": "60"}, nil, func(c app.Config) bool { return c.DefaultRateLimit == 60 }},
		{"DefaultRateLimitFlagWins", map[string]string{"TRIGGERS_DEFAULT_RATE_LIMIT": "60"}, []string{"--default-rate-limit=120"},
			func(c app.Config) bool { return c.DefaultRateLimit == 120 }},
		{"RateLimiter", nil, []string{"--rate-limiter", "off"}, func(c app.Config) bool { return c.RateLimiter == "off" }},
		{"FailClosedEnv", map[string]string{"TRIGGERS_RATE_LIMIT_FAIL_CLOSED": "1"}, nil, func(c app.Config) bool { return c.RateLimitFailClosed }},
		{"FailClosedFlagFalseWins", map[string]string{"TRIGGERS_RATE_LIMIT_FAIL_CLOSED": "true"}, []string{"--rate-limit-fail-closed=false"},
			func(c app.Config) bool { return !c.RateLimitFailClosed }},
		{"CORSNormalized", map[string]string{"TRIGGERS_CORS_ORIGINS": "https://App.example:443, http://localhost:3000"}, nil,
			func(c app.Config) bool { return c.CORS.String() == "https://app.example,http://localhost:3000" }},
		{"LogLevel", map[string]string{"TRIGGERS_LOG_LEVEL": "debug"}, nil, func(c app.Config) bool { return c.LogLevel == slog.LevelDebug }},
		{"DevKey", map[string]string{"TRIGGERS_DEV_KEY": "test-api-key-12345"}, nil, func(c app.Config) bool { return c.DevKey == "test-api-key-12345" }},
		{"MaxBodyBytesInFlight", map[string]string{"TRIGGERS_MAX_BODY_BYTES_IN_FLIGHT": "33554432"}, nil,
			func(c app.Config) bool { return c.MaxBodyBytesInFlight == 32<<20 }},
		{"WebhookDefaults", nil, nil, func(c app.Config) bool {
			return !c.DisableWebhookDispatcher && !c.WebhookAllowInsecure && !c.WebhookAllowPrivate &&
				c.MaxSubscriptions == 0 && c.WebhookConcurrency == 0
		}},
		{"WebhookDispatcherOffEnv", map[string]string{"TRIGGERS_WEBHOOK_DISPATCHER": "false"}, nil,
			func(c app.Config) bool { return c.DisableWebhookDispatcher }},
		{"WebhookDispatcherFlagWins", map[string]string{"TRIGGERS_WEBHOOK_DISPATCHER": "false"}, []string{"--webhook-dispatcher"},
			func(c app.Config) bool { return !c.DisableWebhookDispatcher }},
		{"WebhookAllowFlags", nil, []string{"--webhook-allow-insecure", "--webhook-allow-private"},
			func(c app.Config) bool { return c.WebhookAllowInsecure && c.WebhookAllowPrivate }},
		{"WebhookAllowEnv", map[string]string{"TRIGGERS_WEBHOOK_ALLOW_INSECURE": "true", "TRIGGERS_WEBHOOK_ALLOW_PRIVATE": "1"}, nil,
			func(c app.Config) bool { return c.WebhookAllowInsecure && c.WebhookAllowPrivate }},
		{"MaxSubscriptions", map[string]string{"TRIGGERS_MAX_SUBSCRIPTIONS": "5"}, []string{"--max-subscriptions", "7"},
			func(c app.Config) bool { return c.MaxSubscriptions == 7 }},
		{"WebhookConcurrencyEnv", map[string]string{"TRIGGERS_WEBHOOK_CONCURRENCY": "200"}, nil,
			func(c app.Config) bool { return c.WebhookConcurrency == 200 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseServe(t, tt.env, tt.args...)
			if err != nil || !tt.check(cfg) {
				t.Fatalf("env %v, args %q: config %+v, %v", tt.env, tt.args, cfg, err)
			}
		})
	}
}

// TestFlags_ConfigBadValue checks that a bad value of every setting that
// has a syntax is an error naming its flag or its variable, and the value.
func TestFlags_ConfigBadValue(t *testing.T) {
	tests := []struct {
		flag, env, value string
		needs            string // the part of the value the message must quote
	}{
		{"store", "TRIGGERS_STORE", "postgres", "postgres"},
		{"retention", "TRIGGERS_RETENTION", "soon", "soon"},
		{"retention", "TRIGGERS_RETENTION", "-1h", "-1h"},
		{"trusted-proxies", "TRIGGERS_TRUSTED_PROXIES", "10.0.0.0/8,nope", "nope"},
		{"default-rate-limit", "TRIGGERS_DEFAULT_RATE_LIMIT", "0", `"0"`},
		{"default-rate-limit", "TRIGGERS_DEFAULT_RATE_LIMIT", "lots", "lots"},
		{"rate-limiter", "TRIGGERS_RATE_LIMITER", "redis", "redis"},
		{"rate-limit-fail-closed", "TRIGGERS_RATE_LIMIT_FAIL_CLOSED", "maybe", "maybe"},
		{"cors-origins", "TRIGGERS_CORS_ORIGINS", "https://ok.example,https://app.example/", "https://app.example/"},
		{"log-level", "TRIGGERS_LOG_LEVEL", "loud", "loud"},
		{"max-body-bytes-in-flight", "TRIGGERS_MAX_BODY_BYTES_IN_FLIGHT", "1000", `"1000"`},
		{"max-body-bytes-in-flight", "TRIGGERS_MAX_BODY_BYTES_IN_FLIGHT", "64MiB", "64MiB"},
		{"webhook-dispatcher", "TRIGGERS_WEBHOOK_DISPATCHER", "off", "off"},
		{"webhook-allow-insecure", "TRIGGERS_WEBHOOK_ALLOW_INSECURE", "yes", "yes"},
		{"webhook-allow-private", "TRIGGERS_WEBHOOK_ALLOW_PRIVATE", "maybe", "maybe"},
		{"max-subscriptions", "TRIGGERS_MAX_SUBSCRIPTIONS", "0", `"0"`},
		{"max-subscriptions", "TRIGGERS_MAX_SUBSCRIPTIONS", "1001", `"1001"`},
		{"webhook-concurrency", "TRIGGERS_WEBHOOK_CONCURRENCY", "0", `"0"`},
		{"webhook-concurrency", "TRIGGERS_WEBHOOK_CONCURRENCY", "many", "many"},
	}
	for _, tt := range tests {
		t.Run("Flag_"+tt.flag+"="+tt.value, func(t *testing.T) {
			_, err := parseServe(t, nil, "--"+tt.flag+"="+tt.value)
			if err == nil || !strings.HasPrefix(err.Error(), "--"+tt.flag+": ") || !strings.Contains(err.Error(), tt.needs) {
				t.Fatalf("--%s=%s: err = %v, want one naming the flag and %s", tt.flag, tt.value, err, tt.needs)
			}
		})
		t.Run("Env_"+tt.env+"="+tt.value, func(t *testing.T) {
			env := map[string]string{tt.env: tt.value}
			_, err := parseServe(t, env)
			if err == nil || !strings.HasPrefix(err.Error(), tt.env+": ") || !strings.Contains(err.Error(), tt.needs) {
				t.Fatalf("%s=%s: err = %v, want one naming the variable and %s", tt.env, tt.value, err, tt.needs)
			}
			_, err = app.ConfigFromEnv(func(k string) string { return env[k] }, "dynamodb")
			if err == nil || !strings.HasPrefix(err.Error(), tt.env+": ") {
				t.Fatalf("ConfigFromEnv with %s=%s: err = %v, want one naming the variable", tt.env, tt.value, err)
			}
		})
	}
}

// TestFlags_EnvOnly checks that a setting read without a flag comes from
// its variable and is checked like the flag would be.
func TestFlags_EnvOnly(t *testing.T) {
	fs := flag.NewFlagSet("keys list", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flags := app.NewFlags(fs, app.StoreSettings...).EnvOnly("default-rate-limit")
	if fs.Lookup("default-rate-limit") != nil {
		t.Fatal("EnvOnly registered a flag")
	}
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	cfg, err := flags.Config(func(k string) string { return map[string]string{"TRIGGERS_DEFAULT_RATE_LIMIT": "60"}[k] })
	if err != nil || cfg.DefaultRateLimit != 60 {
		t.Fatalf("config %+v, %v; want default rate limit 60", cfg, err)
	}
	if _, err := flags.Config(func(k string) string { return map[string]string{"TRIGGERS_DEFAULT_RATE_LIMIT": "lots"}[k] }); err == nil ||
		!strings.Contains(err.Error(), "TRIGGERS_DEFAULT_RATE_LIMIT") {
		t.Fatalf("TRIGGERS_DEFAULT_RATE_LIMIT=lots: err = %v, want one naming it", err)
	}
}

// TestConfigFromEnv_DefaultStore checks the Lambda default: the store is
// defaultStore unless TRIGGERS_STORE says otherwise.
func TestConfigFromEnv_DefaultStore(t *testing.T) {
	for _, tt := range []struct{ env, want string }{{"", "dynamodb"}, {"sqlite", "sqlite"}} {
		cfg, err := app.ConfigFromEnv(func(k string) string { return map[string]string{"TRIGGERS_STORE": tt.env}[k] }, "dynamodb")
		if err != nil || cfg.Store != tt.want {
			t.Errorf("TRIGGERS_STORE=%q: store %q, %v; want %q", tt.env, cfg.Store, err, tt.want)
		}
	}
}
