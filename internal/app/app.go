// Package app wires configuration, a store, the service and the HTTP server
// together for the binaries (cmd/triggers and cmd/triggers-lambda).
//
// Configuration is parsed in one place (config.go): each setting has a
// flag, an environment variable and one parse function, and the binaries
// get a typed Config from Flags.Config (the CLI) or ConfigFromEnv (Lambda).
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/clientip"
	"github.com/triggersapi/triggers/dispatch"
	"github.com/triggersapi/triggers/dynamodb"
	triggershttp "github.com/triggersapi/triggers/http"
	"github.com/triggersapi/triggers/internal/egress"
	"github.com/triggersapi/triggers/internal/version"
	"github.com/triggersapi/triggers/ratelimit"
	"github.com/triggersapi/triggers/sqlite"
)

// OpenStore opens the configured store. On DynamoDB with CreateTables it
// first creates the missing tables, logging what it did and any warning.
func OpenStore(ctx context.Context, cfg Config, logger *slog.Logger) (triggers.Store, error) {
	cfg.defaults()
	var client *awsdynamodb.Client
	if cfg.Store == "dynamodb" {
		var err error
		if client, err = newDynamoDBClient(ctx, cfg); err != nil {
			return nil, err
		}
	}
	return openStore(ctx, cfg, client, logger)
}

// newDynamoDBClient returns a client for cfg's endpoint (or AWS). A process
// builds at most one: the store, the key checks and the rate limiter share
// it, with its connection pool and credentials.
func newDynamoDBClient(ctx context.Context, cfg Config) (*awsdynamodb.Client, error) {
	client, err := dynamodb.NewClient(ctx, cfg.DynamoDBEndpoint)
	if err != nil {
		return nil, fmt.Errorf("app: dynamodb client: %w", err)
	}
	return client, nil
}

// openStore opens the store of cfg (defaults applied); client is the
// DynamoDB client when cfg.Store is "dynamodb".
func openStore(ctx context.Context, cfg Config, client *awsdynamodb.Client, logger *slog.Logger) (triggers.Store, error) {
	switch cfg.Store {
	case "sqlite":
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("app: create data directory: %w", err)
		}
		return sqlite.Open(cfg.DataDir, nil)
	case "dynamodb":
		if cfg.CreateTables {
			if _, err := createTables(ctx, cfg, client, logger); err != nil {
				return nil, err
			}
		}
		return dynamodb.Open(ctx, client, cfg.Stage, &dynamodb.Options{EventTTL: cfg.Retention, InboxSettle: dynamodb.DefaultInboxSettle})
	default:
		return nil, triggers.Errorf(triggers.EINVALID, "unknown store %q (known: sqlite, dynamodb)", cfg.Store)
	}
}

// limiterKind is where cfg's rate-limit state lives, "auto" resolved.
func limiterKind(cfg Config) string {
	if cfg.RateLimiter == "auto" {
		return map[string]string{"sqlite": "local", "dynamodb": "dynamodb"}[cfg.Store]
	}
	return cfg.RateLimiter
}

// openLimiter returns the configured rate limiter, or nil for "off"; client
// is the DynamoDB client when the limiter is on DynamoDB.
func openLimiter(cfg Config, client *awsdynamodb.Client, logger *slog.Logger) (ratelimit.Limiter, error) {
	switch limiterKind(cfg) {
	case "off":
		logger.Warn("rate limiting is off (TRIGGERS_RATE_LIMITER=off)")
		return nil, nil
	case "local":
		if cfg.Store != "sqlite" {
			logger.Warn("in-process rate limiter on a shared store, as asked: every instance allows a key's whole limit")
		}
		return ratelimit.NewLocal(), nil
	case "dynamodb":
		return dynamodb.NewRateLimiter(client, cfg.Stage, nil)
	default:
		return nil, triggers.Errorf(triggers.EINVALID, "unknown rate limiter %q (known: auto, local, dynamodb, off)", cfg.RateLimiter)
	}
}

// CreateTables creates the DynamoDB tables of cfg.Stage that are missing and
// logs what it did; a server without TTL support is a warning, not an error.
func CreateTables(ctx context.Context, cfg Config, logger *slog.Logger) (*dynamodb.TablesReport, error) {
	cfg.defaults()
	client, err := newDynamoDBClient(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return createTables(ctx, cfg, client, logger)
}

func createTables(ctx context.Context, cfg Config, client *awsdynamodb.Client, logger *slog.Logger) (*dynamodb.TablesReport, error) {
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
	// Dispatcher delivers webhooks; nil when the store has no webhooks or
	// the configuration turns it off. Serve runs it.
	Dispatcher *dispatch.Dispatcher
	Logger     *slog.Logger
}

// Open opens the store and builds the service and the HTTP API. When the
// store or the rate limiter is on DynamoDB, both use one client.
func Open(cfg Config, logger *slog.Logger) (*App, error) {
	cfg.defaults()
	ctx := context.Background()
	var client *awsdynamodb.Client
	if cfg.Store == "dynamodb" || limiterKind(cfg) == "dynamodb" {
		var err error
		if client, err = newDynamoDBClient(ctx, cfg); err != nil {
			return nil, err
		}
	}
	store, err := openStore(ctx, cfg, client, logger)
	if err != nil {
		return nil, err
	}
	limiter, err := openLimiter(cfg, client, logger)
	if err != nil {
		store.Close()
		return nil, err
	}
	guard := &egress.Guard{AllowPrivate: cfg.WebhookAllowPrivate}
	if cfg.WebhookAllowPrivate {
		logger.Warn("webhooks may reach loopback, private and link-local addresses (--webhook-allow-private): for local development and tests only")
	}
	svc := triggers.NewService(store, &triggers.Options{Retention: cfg.Retention,
		Webhooks: triggers.WebhookOptions{MaxSubscriptions: cfg.MaxSubscriptions,
			CheckURL: webhookURLPolicy(guard, cfg.WebhookAllowInsecure)}})
	registry := triggershttp.NewRegistry()
	if db, ok := store.(*sqlite.DB); ok {
		registerSQLiteMetrics(registry, db)
	}
	registerStatsMetrics(registry, store, svc, logger)
	if b, ok := store.(dispatch.Backlog); ok {
		// Whether or not this instance delivers: the backlog is the store's.
		registry.MustRegister(dispatch.NewBacklogCollector(b, svc.Now, logger))
	}
	var dispatcher *dispatch.Dispatcher
	if ws, ok := store.(triggers.WebhookStore); ok && !cfg.DisableWebhookDispatcher {
		ua := "Triggers/" + version.String()
		dispatcher = dispatch.New(dispatch.Config{Store: ws, Events: svc, Client: egress.NewClient(guard, ua),
			Now: svc.Now, Logger: logger, Metrics: dispatch.NewMetrics(registry), UserAgent: ua,
			MaxInFlight: cfg.WebhookConcurrency, DrainTimeout: cfg.ShutdownTimeout})
	}
	srv := triggershttp.NewServer(svc, &triggershttp.Options{Version: version.String(), Logger: logger, Registry: registry,
		ClientIP: clientip.New(cfg.TrustedProxies), Limiter: limiter,
		DefaultRateLimit: cfg.DefaultRateLimit, RateLimitFailClosed: cfg.RateLimitFailClosed,
		CORS: cfg.CORS, MaxBodyBytesInFlight: cfg.MaxBodyBytesInFlight})
	return &App{Config: cfg, Store: store, Service: svc, Server: srv, Dispatcher: dispatcher, Logger: logger}, nil
}

// webhookURLPolicy is the server's rule for subscription URLs (DESIGN
// §11.1): https (or http with allowInsecure), and a host whose every
// address the guard allows. Its errors are the message of a 400 naming url.
// It is egress's (Guard.URLCheck), which the HTTP tests use too.
func webhookURLPolicy(g *egress.Guard, allowInsecure bool) func(context.Context, *url.URL) error {
	return g.URLCheck(allowInsecure)
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

// The server's timeouts for reading a request and writing its answer, each
// counted from the start of the request. A waiting receive (long poll)
// holds its request open for up to triggers.MaxWaitSeconds (20 s) before it
// answers, so both must outlast that wait plus the time to do the receive's
// store work and write its answer, or a long poll would be cut off (the
// read deadline also cancels the request's context once the body is read).
// TestServerTimeouts_OutlastLongestWait checks it.
const (
	readTimeout  = 30 * time.Second
	writeTimeout = 30 * time.Second
)

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
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       120 * time.Second,
		// Above the API's own bounds on the request line and headers, so
		// that a request over them is answered in the error envelope
		// (triggershttp.MaxURLBytes, MaxHeaderBytes).
		MaxHeaderBytes: triggershttp.ServerMaxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(a.Logger.Handler(), slog.LevelWarn),
	}
	purgeCtx, stopPurge := context.WithCancel(context.Background())
	defer stopPurge()
	go a.purgeLoop(purgeCtx)

	if a.Config.PprofAddr != "" {
		stopPprof, err := servePprof(a.Config.PprofAddr, a.Logger)
		if err != nil {
			return err
		}
		defer stopPprof()
	}

	dispatchCtx, stopDispatch := context.WithCancel(context.Background())
	defer stopDispatch()
	dispatched := make(chan struct{})
	if a.Dispatcher != nil {
		a.Logger.Info("webhook dispatcher running", slog.Int("max_in_flight", a.Config.WebhookConcurrency))
		go func() { defer close(dispatched); a.Dispatcher.Run(dispatchCtx) }()
	} else {
		close(dispatched)
	}

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	a.Logger.Info("listening", slog.String("addr", ln.Addr().String()), slog.String("store", a.Config.Store),
		slog.String("stage", a.Config.Stage),
		slog.String("version", version.String()))
	select {
	case err := <-errc:
		return fmt.Errorf("app: serve: %w", err)
	case <-ctx.Done():
	}
	a.Logger.Info("shutting down: finishing in-flight requests")
	// Waiting receives answer at once (with what they have, usually no
	// events) rather than hold the shutdown for up to their wait_seconds.
	a.Service.StopWaiting()
	// The dispatcher stops claiming and finishes its attempts in flight
	// (within ShutdownTimeout too) while the server finishes its requests.
	stopDispatch()
	sctx, cancel := context.WithTimeout(context.Background(), a.Config.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("app: shutdown: %w", err)
	}
	<-dispatched
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
