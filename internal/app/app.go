// Package app wires configuration, a store, the service and the HTTP server
// together for the binaries (cmd/triggers and, later, cmd/triggers-lambda).
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/clientip"
	"github.com/triggersapi/triggers/dynamodb"
	triggershttp "github.com/triggersapi/triggers/http"
	"github.com/triggersapi/triggers/ratelimit"
	"github.com/triggersapi/triggers/sqlite"
)

// Version is the build's version, set with -ldflags "-X .../internal/app.Version=v1.2.3".
var Version = "dev"

// Config is everything the binaries can be told, from flags or environment.
type Config struct {
	Addr    string // TRIGGERS_ADDR, default ":8080"
	DataDir string // TRIGGERS_DATA_DIR, default "./data"
	Store   string // TRIGGERS_STORE: "sqlite" (default) or "dynamodb"
	// Stage names the DynamoDB tables (triggers-api-events-{stage}, ...);
	// TRIGGERS_STAGE, default "dev".
	Stage string
	// DynamoDBEndpoint overrides the AWS endpoint (dynalite, DynamoDB Local);
	// TRIGGERS_DYNAMODB_ENDPOINT. Region and credentials come the standard
	// AWS way.
	DynamoDBEndpoint string
	// CreateTables creates missing DynamoDB tables at start (--create-tables).
	CreateTables bool
	// DefaultRateLimit is the requests per minute of a key without its own
	// limit (TRIGGERS_DEFAULT_RATE_LIMIT); default 1000.
	DefaultRateLimit int
	// RateLimiter picks where rate-limit state lives (TRIGGERS_RATE_LIMITER):
	// "auto" (default: in-process on sqlite, the DynamoDB table on dynamodb),
	// "local", "dynamodb" or "off". "local" on a shared store must be asked
	// for explicitly: every instance would then allow the whole limit.
	RateLimiter string
	// RateLimitFailClosed refuses requests with 503 when the limiter's store
	// fails, instead of admitting them (TRIGGERS_RATE_LIMIT_FAIL_CLOSED).
	RateLimitFailClosed bool
	Retention           time.Duration // TRIGGERS_RETENTION, default 168h
	DevKey              string        // TRIGGERS_DEV_KEY: make sure this key exists (tenant "dev")
	// TrustedProxies are the proxies whose X-Forwarded-For / X-Real-IP
	// headers are believed (TRIGGERS_TRUSTED_PROXIES); default none.
	TrustedProxies []netip.Prefix
	// CORSOrigins are the origins browsers may call the API from
	// (TRIGGERS_CORS_ORIGINS, comma-separated, normalized by
	// triggershttp.ParseCORSOrigins; "*" for any); default none: CORS off.
	CORSOrigins []string
	// PurgeInterval is how often expired events are removed; default 1m.
	PurgeInterval time.Duration
	// ShutdownTimeout bounds the graceful shutdown; default 20s.
	ShutdownTimeout time.Duration
}

func (c *Config) defaults() {
	if c.Addr == "" {
		c.Addr = ":8080"
	}
	if c.DataDir == "" {
		c.DataDir = "./data"
	}
	if c.Store == "" {
		c.Store = "sqlite"
	}
	if c.Stage == "" {
		c.Stage = "dev"
	}
	if c.DefaultRateLimit <= 0 {
		c.DefaultRateLimit = triggers.DefaultRateLimit
	}
	if c.RateLimiter == "" {
		c.RateLimiter = "auto"
	}
	if c.Retention <= 0 {
		c.Retention = triggers.DefaultRetention
	}
	if c.PurgeInterval <= 0 {
		c.PurgeInterval = time.Minute
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 20 * time.Second
	}
}

// OpenStore opens the configured store. On DynamoDB with CreateTables it
// first creates the missing tables, logging what it did and any warning.
func OpenStore(ctx context.Context, cfg Config, logger *slog.Logger) (triggers.Store, error) {
	cfg.defaults()
	switch cfg.Store {
	case "sqlite":
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("app: create data directory: %w", err)
		}
		return sqlite.Open(cfg.DataDir, nil)
	case "dynamodb":
		client, err := dynamodb.NewClient(ctx, cfg.DynamoDBEndpoint)
		if err != nil {
			return nil, err
		}
		if cfg.CreateTables {
			if _, err := CreateTables(ctx, cfg, logger); err != nil {
				return nil, err
			}
		}
		return dynamodb.Open(ctx, client, cfg.Stage, &dynamodb.Options{EventTTL: cfg.Retention, InboxSettle: dynamodb.DefaultInboxSettle})
	default:
		return nil, triggers.Errorf(triggers.EINVALID, "unknown store %q (known: sqlite, dynamodb)", cfg.Store)
	}
}

// openLimiter returns the configured rate limiter, or nil for "off".
func openLimiter(ctx context.Context, cfg Config, logger *slog.Logger) (ratelimit.Limiter, error) {
	kind := cfg.RateLimiter
	if kind == "auto" {
		kind = map[string]string{"sqlite": "local", "dynamodb": "dynamodb"}[cfg.Store]
	}
	switch kind {
	case "off":
		logger.Warn("rate limiting is off (TRIGGERS_RATE_LIMITER=off)")
		return nil, nil
	case "local":
		if cfg.Store != "sqlite" {
			logger.Warn("in-process rate limiter on a shared store, as asked: every instance allows a key's whole limit")
		}
		return ratelimit.NewLocal(), nil
	case "dynamodb":
		client, err := dynamodb.NewClient(ctx, cfg.DynamoDBEndpoint)
		if err != nil {
			return nil, err
		}
		return dynamodb.NewRateLimiter(client, cfg.Stage, nil)
	default:
		return nil, triggers.Errorf(triggers.EINVALID, "unknown rate limiter %q (known: auto, local, dynamodb, off)", cfg.RateLimiter)
	}
}

// CreateTables creates the DynamoDB tables of cfg.Stage that are missing and
// logs what it did; a server without TTL support is a warning, not an error.
func CreateTables(ctx context.Context, cfg Config, logger *slog.Logger) (*dynamodb.TablesReport, error) {
	cfg.defaults()
	client, err := dynamodb.NewClient(ctx, cfg.DynamoDBEndpoint)
	if err != nil {
		return nil, err
	}
	rep, err := dynamodb.CreateTables(ctx, client, cfg.Stage)
	if err != nil {
		return rep, err
	}
	logger.Info("dynamodb tables ready", slog.String("stage", cfg.Stage),
		slog.Any("created", rep.Created), slog.Any("existing", rep.Existing))
	for _, w := range rep.Warnings {
		logger.Warn("dynamodb tables: " + w)
	}
	return rep, nil
}

// App is a running configuration: store, service and HTTP API.
type App struct {
	Config  Config
	Store   triggers.Store
	Service *triggers.Service
	Server  *triggershttp.Server
	Logger  *slog.Logger
}

// Open opens the store and builds the service and the HTTP API.
func Open(cfg Config, logger *slog.Logger) (*App, error) {
	cfg.defaults()
	cors, err := triggershttp.ParseCORSOrigins(strings.Join(cfg.CORSOrigins, ","))
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	store, err := OpenStore(context.Background(), cfg, logger)
	if err != nil {
		return nil, err
	}
	limiter, err := openLimiter(context.Background(), cfg, logger)
	if err != nil {
		store.Close()
		return nil, err
	}
	svc := triggers.NewService(store, &triggers.Options{Retention: cfg.Retention})
	srv := triggershttp.NewServer(svc, &triggershttp.Options{Version: Version, Logger: logger,
		ClientIP: clientip.New(cfg.TrustedProxies), Limiter: limiter,
		DefaultRateLimit: cfg.DefaultRateLimit, RateLimitFailClosed: cfg.RateLimitFailClosed,
		CORSOrigins: cors})
	return &App{Config: cfg, Store: store, Service: svc, Server: srv, Logger: logger}, nil
}

// Close closes the store.
func (a *App) Close() error { return a.Store.Close() }

// Bootstrap creates the dev key if configured, and logs how to create a key
// when the store has none.
func (a *App) Bootstrap(ctx context.Context) error {
	if a.Config.DevKey != "" {
		k, changed, err := a.Service.EnsureKey(ctx, a.Config.DevKey, "dev")
		if err != nil {
			return fmt.Errorf("app: dev key: %w", err)
		}
		a.Logger.Info("dev key ready", slog.String("key_id", k.ID), slog.String("tenant", k.Tenant), slog.Bool("created", changed))
		return nil
	}
	keys, err := a.Service.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("app: list keys: %w", err)
	}
	if len(keys) == 0 {
		a.Logger.Warn("no API keys yet: create one with `triggers keys create --tenant NAME`, or start with --dev-key VALUE")
	}
	return nil
}

// Serve listens on the configured address (or uses ln when not nil) and
// serves until ctx ends, then shuts down gracefully: in-flight requests
// finish, within ShutdownTimeout.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", a.Config.Addr)
		if err != nil {
			return fmt.Errorf("app: listen: %w", err)
		}
	}
	hs := &http.Server{
		Handler:           a.Server.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(a.Logger.Handler(), slog.LevelWarn),
	}
	purgeCtx, stopPurge := context.WithCancel(context.Background())
	defer stopPurge()
	go a.purgeLoop(purgeCtx)

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	a.Logger.Info("listening", slog.String("addr", ln.Addr().String()), slog.String("store", a.Config.Store),
		slog.String("stage", a.Config.Stage),
		slog.String("version", Version))
	select {
	case err := <-errc:
		return fmt.Errorf("app: serve: %w", err)
	case <-ctx.Done():
	}
	a.Logger.Info("shutting down: finishing in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), a.Config.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("app: shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	a.Logger.Info("stopped")
	return nil
}

// purgeLoop removes expired events periodically. Expired events are hidden
// at once by every read; this only reclaims their space.
func (a *App) purgeLoop(ctx context.Context) {
	t := time.NewTicker(a.Config.PurgeInterval)
	defer t.Stop()
	for {
		n, err := a.Service.PurgeExpired(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			a.Logger.Warn("purge expired events failed", slog.Any("error", err))
		case n > 0:
			a.Logger.Info("purged expired events", slog.Int("count", n))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
