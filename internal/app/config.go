package app

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/dispatch"
	triggershttp "github.com/triggersapi/triggers/http"
)

// Config is everything the binaries can be told. Each field is set by one
// setting (below): its flag when given, else its environment variable when
// set and not empty, else its default. Zero values mean the default.
type Config struct {
	Addr    string // --addr, TRIGGERS_ADDR; default ":8080"
	DataDir string // --data-dir, TRIGGERS_DATA_DIR; default "./data"
	Store   string // --store, TRIGGERS_STORE: "sqlite" (default) or "dynamodb"
	// Stage names the DynamoDB tables (triggers-api-events-{stage}, ...);
	// --stage, TRIGGERS_STAGE; default "dev".
	Stage string
	// DynamoDBEndpoint overrides the AWS endpoint (dynalite, DynamoDB Local);
	// --dynamodb-endpoint, TRIGGERS_DYNAMODB_ENDPOINT. Region and
	// credentials come the standard AWS way.
	DynamoDBEndpoint string
	// CreateTables creates missing DynamoDB tables at start (--create-tables).
	CreateTables bool
	// DefaultRateLimit is the requests per minute of a key without its own
	// limit (--default-rate-limit, TRIGGERS_DEFAULT_RATE_LIMIT); default 1000.
	DefaultRateLimit int
	// RateLimiter picks where rate-limit state lives (--rate-limiter,
	// TRIGGERS_RATE_LIMITER): "auto" (default: in-process on sqlite, the
	// DynamoDB table on dynamodb), "local", "dynamodb" or "off". "local" on
	// a shared store must be asked for explicitly: every instance would then
	// allow the whole limit.
	RateLimiter string
	// RateLimitFailClosed refuses requests with 503 when the limiter's store
	// fails, instead of admitting them (--rate-limit-fail-closed,
	// TRIGGERS_RATE_LIMIT_FAIL_CLOSED).
	RateLimitFailClosed bool
	// Retention is how long events are kept (--retention,
	// TRIGGERS_RETENTION); default 168h.
	Retention time.Duration
	// DevKey makes sure a key with this value exists, tenant "dev"
	// (--dev-key, TRIGGERS_DEV_KEY).
	DevKey string
	// TrustedProxies are the proxies whose X-Forwarded-For / X-Real-IP
	// headers are believed (--trusted-proxies, TRIGGERS_TRUSTED_PROXIES);
	// default none.
	TrustedProxies []netip.Prefix
	// CORS is the origins browsers may call the API from (--cors-origins,
	// TRIGGERS_CORS_ORIGINS); default none: CORS off.
	CORS triggershttp.CORSPolicy
	// MaxBodyBytesInFlight bounds the request body bytes the server holds
	// at once, over all requests; more is answered 503 with Retry-After
	// (--max-body-bytes-in-flight, TRIGGERS_MAX_BODY_BYTES_IN_FLIGHT);
	// default triggershttp.DefaultMaxBodyBytesInFlight (64 MiB).
	MaxBodyBytesInFlight int64
	// LogLevel is the lowest level logged (--log-level, TRIGGERS_LOG_LEVEL);
	// default info.
	LogLevel slog.Level
	// PprofAddr, when set, serves net/http/pprof on this address, which
	// must be a loopback one (--pprof-addr, TRIGGERS_PPROF_ADDR): profiles
	// of a running server for bench/harness.sh. Default off.
	PprofAddr string
	// DisableWebhookDispatcher keeps `triggers serve` from delivering
	// webhooks (--webhook-dispatcher=false, TRIGGERS_WEBHOOK_DISPATCHER=false),
	// for instances that only serve the API while others (or the scheduled
	// Lambda) deliver. Default: the dispatcher runs when the store supports
	// webhooks.
	DisableWebhookDispatcher bool
	// WebhookAllowInsecure accepts http:// subscription URLs besides
	// https:// (--webhook-allow-insecure, TRIGGERS_WEBHOOK_ALLOW_INSECURE).
	WebhookAllowInsecure bool
	// WebhookAllowPrivate lets deliveries reach loopback, private and
	// link-local addresses (--webhook-allow-private,
	// TRIGGERS_WEBHOOK_ALLOW_PRIVATE): local development and tests only.
	WebhookAllowPrivate bool
	// MaxSubscriptions bounds a tenant's subscriptions (--max-subscriptions,
	// TRIGGERS_MAX_SUBSCRIPTIONS); default triggers.DefaultMaxSubscriptions.
	MaxSubscriptions int
	// WebhookConcurrency bounds the deliveries one dispatcher holds at once
	// (--webhook-concurrency, TRIGGERS_WEBHOOK_CONCURRENCY); default
	// dispatch.DefaultMaxInFlight (50).
	WebhookConcurrency int
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
	if c.MaxSubscriptions <= 0 {
		c.MaxSubscriptions = triggers.DefaultMaxSubscriptions
	}
	if c.WebhookConcurrency <= 0 {
		c.WebhookConcurrency = dispatch.DefaultMaxInFlight
	}
	if c.PurgeInterval <= 0 {
		c.PurgeInterval = time.Minute
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 20 * time.Second
	}
}

// A setting is one configuration value: its flag, its environment variable
// and the one function that parses either into Config. Every rule about a
// value (its syntax, its range) lives in its parse function, so a flag and
// its variable cannot disagree.
type setting struct {
	flag  string // the flag's name, without dashes
	env   string // "" when the setting has no variable
	usage string // a `word` in it names the flag's argument in -h
	def   string // the default, for -h; "" when none worth saying
	bool  bool   // a boolean flag: --flag alone means true
	parse func(c *Config, v string) error
}

// settings are all the settings, in the order -h lists them.
var settings = []setting{
	{flag: "addr", env: "TRIGGERS_ADDR", def: `":8080"`, usage: "listen `address`",
		parse: func(c *Config, v string) error { c.Addr = v; return nil }},
	{flag: "data-dir", env: "TRIGGERS_DATA_DIR", def: `"./data"`, usage: "`directory` of the embedded store",
		parse: func(c *Config, v string) error { c.DataDir = v; return nil }},
	{flag: "store", env: "TRIGGERS_STORE", def: `"sqlite"`, usage: "`store`: sqlite or dynamodb",
		parse: func(c *Config, v string) error {
			if err := oneOf(v, "sqlite", "dynamodb"); err != nil {
				return fmt.Errorf("unknown store %w", err)
			}
			c.Store = v
			return nil
		}},
	{flag: "stage", env: "TRIGGERS_STAGE", def: `"dev"`, usage: "DynamoDB tables' `stage`: triggers-api-*-{stage}",
		parse: func(c *Config, v string) error { c.Stage = v; return nil }},
	{flag: "dynamodb-endpoint", env: "TRIGGERS_DYNAMODB_ENDPOINT",
		def: "AWS", usage: "DynamoDB endpoint `URL`, e.g. http://127.0.0.1:4567 for dynalite",
		parse: func(c *Config, v string) error { c.DynamoDBEndpoint = v; return nil }},
	{flag: "create-tables", bool: true, usage: "with --store dynamodb: create missing tables at start",
		parse: func(c *Config, v string) (err error) { c.CreateTables, err = parseBool(v); return err }},
	{flag: "dev-key", env: "TRIGGERS_DEV_KEY", usage: "make sure an API key with this `value` exists, tenant dev",
		parse: func(c *Config, v string) error { c.DevKey = v; return nil }},
	{flag: "retention", env: "TRIGGERS_RETENTION", def: "168h", usage: "how long events are kept, a `duration` such as 168h; 0: the default",
		parse: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return fmt.Errorf("%q is not a Go duration such as 168h (0: the default)", v)
			}
			c.Retention = d
			return nil
		}},
	{flag: "trusted-proxies", env: "TRIGGERS_TRUSTED_PROXIES",
		def: "none", usage: "comma-separated IPs/CIDRs of `proxies` whose X-Forwarded-For and X-Real-IP are believed",
		parse: func(c *Config, v string) error {
			p, err := triggers.ParseAllowlist(v)
			if err != nil {
				return errors.New(triggers.ErrorMessage(err))
			}
			c.TrustedProxies = p
			return nil
		}},
	{flag: "default-rate-limit", env: "TRIGGERS_DEFAULT_RATE_LIMIT",
		def: "1000", usage: "`requests` per minute of a key without its own limit",
		parse: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || triggers.ValidateRateLimit(n) != nil {
				return fmt.Errorf("%q is not a limit from 1 to %d requests per minute", v, triggers.MaxRateLimit)
			}
			c.DefaultRateLimit = n
			return nil
		}},
	{flag: "rate-limiter", env: "TRIGGERS_RATE_LIMITER",
		def: `"auto"`, usage: "the rate limiter `kind`, where its state lives: auto (in-process on sqlite, DynamoDB on dynamodb), local, dynamodb or off",
		parse: func(c *Config, v string) error {
			if err := oneOf(v, "auto", "local", "dynamodb", "off"); err != nil {
				return fmt.Errorf("unknown rate limiter %w", err)
			}
			c.RateLimiter = v
			return nil
		}},
	{flag: "rate-limit-fail-closed", env: "TRIGGERS_RATE_LIMIT_FAIL_CLOSED", bool: true,
		usage: "refuse requests (503) when the rate limiter's store fails, instead of admitting them",
		parse: func(c *Config, v string) (err error) { c.RateLimitFailClosed, err = parseBool(v); return err }},
	{flag: "cors-origins", env: "TRIGGERS_CORS_ORIGINS",
		def: "none: CORS off", usage: "comma-separated `origins` (scheme://host[:port]) browsers may call the API from, or \"*\" for any",
		parse: func(c *Config, v string) (err error) { c.CORS, err = triggershttp.ParseCORSOrigins(v); return err }},
	{flag: "max-body-bytes-in-flight", env: "TRIGGERS_MAX_BODY_BYTES_IN_FLIGHT",
		def:   strconv.Itoa(triggershttp.DefaultMaxBodyBytesInFlight) + " (64 MiB)",
		usage: "`bytes` of request bodies held at once, over all requests; more is answered 503 with Retry-After",
		parse: func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < triggershttp.MaxBulkBytes {
				return fmt.Errorf("%q is not a number of bytes of at least %d (one bulk body)", v, triggershttp.MaxBulkBytes)
			}
			c.MaxBodyBytesInFlight = n
			return nil
		}},
	{flag: "webhook-dispatcher", env: "TRIGGERS_WEBHOOK_DISPATCHER", bool: true, def: "true",
		usage: "deliver webhooks from this server (false: only serve the API; another instance or the scheduled Lambda delivers)",
		parse: func(c *Config, v string) error {
			on, err := parseBool(v)
			c.DisableWebhookDispatcher = !on
			return err
		}},
	{flag: "webhook-allow-insecure", env: "TRIGGERS_WEBHOOK_ALLOW_INSECURE", bool: true,
		usage: "accept http:// webhook URLs besides https://",
		parse: func(c *Config, v string) (err error) { c.WebhookAllowInsecure, err = parseBool(v); return err }},
	{flag: "webhook-allow-private", env: "TRIGGERS_WEBHOOK_ALLOW_PRIVATE", bool: true,
		usage: "let webhooks reach loopback, private and link-local addresses (local development and tests only)",
		parse: func(c *Config, v string) (err error) { c.WebhookAllowPrivate, err = parseBool(v); return err }},
	{flag: "max-subscriptions", env: "TRIGGERS_MAX_SUBSCRIPTIONS", def: strconv.Itoa(triggers.DefaultMaxSubscriptions),
		usage: "webhook `subscriptions` a tenant may have",
		parse: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxMaxSubscriptions {
				return fmt.Errorf("%q is not a number of subscriptions from 1 to %d", v, maxMaxSubscriptions)
			}
			c.MaxSubscriptions = n
			return nil
		}},
	{flag: "webhook-concurrency", env: "TRIGGERS_WEBHOOK_CONCURRENCY", def: strconv.Itoa(dispatch.DefaultMaxInFlight),
		usage: "webhook `deliveries` this server holds at once (each subscription gets at most 10 of them)",
		parse: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxWebhookConcurrency {
				return fmt.Errorf("%q is not a number of deliveries from 1 to %d", v, maxWebhookConcurrency)
			}
			c.WebhookConcurrency = n
			return nil
		}},
	{flag: "log-level", env: "TRIGGERS_LOG_LEVEL", def: `"info"`, usage: "log `level`: debug, info, warn, error",
		parse: func(c *Config, v string) error {
			if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
				return fmt.Errorf("%q is not a log level (debug, info, warn, error)", v)
			}
			return nil
		}},
	{flag: "pprof-addr", env: "TRIGGERS_PPROF_ADDR", def: "off", usage: "serve net/http/pprof on this loopback `address` (profiling)",
		parse: func(c *Config, v string) error {
			ap, err := netip.ParseAddrPort(v)
			if err != nil || !ap.Addr().IsLoopback() {
				return fmt.Errorf("%q is not a loopback address and port such as 127.0.0.1:6060", v)
			}
			c.PprofAddr = v
			return nil
		}},
}

// Upper bounds of the webhook settings: a tenant lists its subscriptions
// in one store read, and every delivery held is a goroutine and a
// connection.
const (
	maxMaxSubscriptions   = 1000
	maxWebhookConcurrency = 10_000
)

// The settings each command reads, by flag name.
var (
	// StoreSettings choose the store: the flags of every keys command.
	StoreSettings = []string{"data-dir", "store", "stage", "dynamodb-endpoint"}
	// TablesSettings name the DynamoDB tables: the flags of tables create.
	TablesSettings = []string{"stage", "dynamodb-endpoint"}
	// ServeSettings are the flags of serve: all of them.
	ServeSettings = func() []string {
		names := make([]string, len(settings))
		for i, s := range settings {
			names[i] = s.flag
		}
		return names
	}()
)

func oneOf(v string, known ...string) error {
	if v == "" { // the default
		return nil
	}
	for _, k := range known {
		if v == k {
			return nil
		}
	}
	return fmt.Errorf("%q (known: %s)", v, strings.Join(known, ", "))
}

func parseBool(v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%q is not true or false", v)
	}
	return b, nil
}

func lookup(name string) *setting {
	for i := range settings {
		if settings[i].flag == name {
			return &settings[i]
		}
	}
	panic("app: no setting " + name) // a programming error: the names are constants
}

// Flags are the configuration settings of one command: some as flags (each
// defaulting to its environment variable), some read from the environment
// only.
type Flags struct {
	fs   *flag.FlagSet // nil: environment only
	raw  map[string]*rawFlag
	read []string // every setting read, flag or not
}

// NewFlags registers on fs the flags of the named settings (ServeSettings,
// StoreSettings, ...). fs may be nil: then every named setting is read from
// the environment only.
func NewFlags(fs *flag.FlagSet, names ...string) *Flags {
	f := &Flags{fs: fs, raw: map[string]*rawFlag{}}
	for _, name := range names {
		s := lookup(name)
		f.read = append(f.read, name)
		if fs == nil {
			continue
		}
		r := &rawFlag{bool: s.bool}
		f.raw[name] = r
		var notes []string
		if s.env != "" {
			notes = append(notes, "env "+s.env)
		}
		if s.def != "" {
			notes = append(notes, "default "+s.def)
		}
		usage := s.usage
		if len(notes) > 0 {
			usage += " (" + strings.Join(notes, "; ") + ")"
		}
		fs.Var(r, name, usage)
	}
	return f
}

// EnvOnly adds settings read from the environment, without a flag (keys
// reads TRIGGERS_DEFAULT_RATE_LIMIT to print the limit that applies).
func (f *Flags) EnvOnly(names ...string) *Flags {
	for _, name := range names {
		lookup(name)
		f.read = append(f.read, name)
	}
	return f
}

// Config returns the configuration, once the flag set has parsed the
// command line: each setting from its flag when given, else from its
// environment variable when set and not empty, else left to its default (a
// zero value, which Open and OpenStore fill in). An error names the flag
// (--name) or the variable and the bad value.
func (f *Flags) Config(getenv func(string) string) (Config, error) {
	return f.apply(Config{}, getenv)
}

func (f *Flags) apply(cfg Config, getenv func(string) string) (Config, error) {
	given := map[string]bool{}
	if f.fs != nil {
		f.fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	}
	for _, name := range f.read {
		s := lookup(name)
		source, v := "", ""
		switch {
		case given[name]:
			source, v = "--"+name, f.raw[name].value
		case s.env != "" && getenv(s.env) != "":
			source, v = s.env, getenv(s.env)
		default:
			continue
		}
		if err := s.parse(&cfg, v); err != nil {
			return Config{}, fmt.Errorf("%s: %w", source, err)
		}
	}
	return cfg, nil
}

// ConfigFromEnv builds a Config from the environment alone, with every
// setting that has a variable (the Lambda entry point, which has no flags);
// TRIGGERS_STORE defaults to defaultStore. A malformed value is an error
// naming the variable.
func ConfigFromEnv(getenv func(string) string, defaultStore string) (Config, error) {
	return NewFlags(nil, ServeSettings...).apply(Config{Store: defaultStore}, getenv)
}

// rawFlag holds a flag's text until Flags.Config parses it, so that a flag
// and its variable go through the same parse function and errors.
type rawFlag struct {
	value string
	bool  bool
}

func (r *rawFlag) String() string   { return "" }
func (r *rawFlag) IsBoolFlag() bool { return r.bool }
func (r *rawFlag) Set(v string) error {
	r.value = v
	return nil
}
