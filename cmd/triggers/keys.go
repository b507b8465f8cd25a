package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/internal/app"
)

// keys runs `triggers keys create|list|revoke|update`.
func (m *Main) keys(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("keys: a subcommand is required: create, list, revoke or update")
	}
	switch args[0] {
	case "create":
		return m.keysCreate(ctx, args[1:])
	case "list":
		return m.keysList(ctx, args[1:])
	case "revoke":
		return m.keysRevoke(ctx, args[1:])
	case "update":
		return m.keysUpdate(ctx, args[1:])
	default:
		return usagef("keys: unknown subcommand %q (create, list, revoke, update)", args[0])
	}
}

// keyFlags registers the flags every keys command takes: the store's (as
// serve has them). TRIGGERS_DEFAULT_RATE_LIMIT is read too, without a flag,
// to print the limit that applies to a key without its own.
func keyFlags(fs *flag.FlagSet) *app.Flags {
	return app.NewFlags(fs, app.StoreSettings...).EnvOnly("default-rate-limit")
}

// openService reads the configuration of flags (parsed) and opens the store
// it names and a service over it. The caller closes the store.
func (m *Main) openService(flags *app.Flags) (*triggers.Service, app.Config, func() error, error) {
	cfg, err := m.config(flags)
	if err != nil {
		return nil, app.Config{}, nil, err
	}
	store, err := app.OpenStore(context.Background(), cfg, slog.New(slog.NewTextHandler(m.Stderr, nil)))
	if err != nil {
		return nil, app.Config{}, nil, err
	}
	return triggers.NewService(store, nil), cfg, store.Close, nil
}

// keyJSON is a key as the CLI prints it with --json. The raw key appears only
// in the output of create.
type keyJSON struct {
	Key        string   `json:"key,omitempty"`
	KeyID      string   `json:"key_id"`
	Tenant     string   `json:"tenant"`
	Name       string   `json:"name,omitempty"`
	RateLimit  int      `json:"rate_limit"`
	AllowedIPs []string `json:"allowed_ips"`
	Active     *bool    `json:"active,omitempty"`
	CreatedAt  string   `json:"created_at,omitempty"`
	ExpiresAt  string   `json:"expires_at,omitempty"`
}

// effectiveRateLimit is the key's limit, or the server default it falls
// back to (cfg.DefaultRateLimit, TRIGGERS_DEFAULT_RATE_LIMIT, after defaults).
func effectiveRateLimit(k triggers.APIKey, cfg app.Config) int {
	if k.RateLimit > 0 {
		return k.RateLimit
	}
	if cfg.DefaultRateLimit > 0 {
		return cfg.DefaultRateLimit
	}
	return triggers.DefaultRateLimit
}

func toKeyJSON(k triggers.APIKey, cfg app.Config) keyJSON {
	active := k.Active
	out := keyJSON{KeyID: k.ID, Tenant: k.Tenant, Name: k.Name, RateLimit: effectiveRateLimit(k, cfg),
		AllowedIPs: triggers.FormatAllowlist(k.AllowedIPs), Active: &active,
		CreatedAt: k.CreatedAt.UTC().Format(time.RFC3339)}
	if !k.ExpiresAt.IsZero() {
		out.ExpiresAt = k.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return out
}

func (m *Main) printJSON(v any) error {
	enc := json.NewEncoder(m.Stdout)
	return enc.Encode(v)
}

// rateLimitFlag is an optional --rate-limit: set reports whether it was given.
type rateLimitFlag struct {
	n   int
	set bool
}

func (f *rateLimitFlag) String() string { return strconv.Itoa(f.n) }
func (f *rateLimitFlag) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("not an integer")
	}
	if err := triggers.ValidateRateLimit(n); err != nil {
		return fmt.Errorf("%s", triggers.ErrorMessage(err))
	}
	f.n, f.set = n, true
	return nil
}

// allowlistFlag is an optional --allowed-ips LIST, validated when parsed.
type allowlistFlag struct {
	prefixes []netip.Prefix
	set      bool
}

func (f *allowlistFlag) String() string { return "" }
func (f *allowlistFlag) Set(s string) error {
	ps, err := triggers.ParseAllowlist(s)
	if err != nil {
		return fmt.Errorf("%s", triggers.ErrorMessage(err))
	}
	f.prefixes, f.set = ps, true
	return nil
}

func (m *Main) keysCreate(ctx context.Context, args []string) error {
	fs := m.newFlagSet("keys create")
	flags := keyFlags(fs)
	tenant := fs.String("tenant", "", "tenant the key belongs to (required)")
	name := fs.String("name", "", "a name for people")
	raw := fs.String("key", "", "the key's secret value (default: generated); for development and tests")
	asJSON := fs.Bool("json", false, "print one JSON object")
	var limit rateLimitFlag
	fs.Var(&limit, "rate-limit", "requests per minute (default: the server's, 1000)")
	var allow allowlistFlag
	fs.Var(&allow, "allowed-ips", "comma-separated IPs and CIDRs allowed to use the key (default: all)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *tenant == "" {
		return usagef("keys create: --tenant is required")
	}
	if fs.NArg() > 0 {
		return usagef("keys create takes no arguments, got %q", fs.Args())
	}
	svc, cfg, closeStore, err := m.openService(flags)
	if err != nil {
		return err
	}
	defer closeStore()
	k, secret, err := svc.CreateKey(ctx, triggers.KeySpec{Tenant: *tenant, Name: *name, RateLimit: limit.n,
		AllowedIPs: allow.prefixes, Raw: *raw})
	if err != nil {
		return err
	}
	out := toKeyJSON(k, cfg)
	if *asJSON {
		return m.printJSON(keyJSON{Key: secret, KeyID: out.KeyID, Tenant: out.Tenant, RateLimit: out.RateLimit, AllowedIPs: out.AllowedIPs})
	}
	fmt.Fprintf(m.Stdout, "%s\n", secret)
	fmt.Fprintf(m.Stderr, "created key %s for tenant %s; the key above is shown only once\n", k.ID, k.Tenant)
	return nil
}

func (m *Main) keysList(ctx context.Context, args []string) error {
	fs := m.newFlagSet("keys list")
	flags := keyFlags(fs)
	asJSON := fs.Bool("json", false, "print a JSON array")
	if err := parse(fs, args); err != nil {
		return err
	}
	svc, cfg, closeStore, err := m.openService(flags)
	if err != nil {
		return err
	}
	defer closeStore()
	keys, err := svc.ListKeys(ctx)
	if err != nil {
		return err
	}
	out := make([]keyJSON, len(keys))
	for i, k := range keys {
		out[i] = toKeyJSON(k, cfg)
	}
	if *asJSON {
		return m.printJSON(out)
	}
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY_ID\tTENANT\tNAME\tACTIVE\tRATE_LIMIT\tALLOWED_IPS\tCREATED_AT")
	for _, k := range out {
		ips := "all"
		if len(k.AllowedIPs) > 0 {
			ips = fmt.Sprint(k.AllowedIPs)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%d\t%s\t%s\n", k.KeyID, k.Tenant, k.Name, *k.Active, k.RateLimit, ips, k.CreatedAt)
	}
	return tw.Flush()
}

// oneKeyID parses flags and the one KEY_ID argument, which may come before
// or after the flags.
func oneKeyID(fs *flag.FlagSet, args []string) (string, error) {
	var id string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		id, args = args[0], args[1:]
	}
	if err := parse(fs, args); err != nil {
		return "", err
	}
	if id == "" && fs.NArg() == 1 {
		id = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return "", usagef("%s: unexpected arguments %q", strings.TrimPrefix(fs.Name(), "triggers "), fs.Args())
	}
	if id == "" {
		return "", usagef("%s: KEY_ID is required", strings.TrimPrefix(fs.Name(), "triggers "))
	}
	return id, nil
}

func (m *Main) keysRevoke(ctx context.Context, args []string) error {
	fs := m.newFlagSet("keys revoke")
	flags := keyFlags(fs)
	id, err := oneKeyID(fs, args)
	if err != nil {
		return err
	}
	svc, _, closeStore, err := m.openService(flags)
	if err != nil {
		return err
	}
	defer closeStore()
	k, err := svc.RevokeKey(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "revoked key %s (tenant %s)\n", k.ID, k.Tenant)
	return nil
}

func (m *Main) keysUpdate(ctx context.Context, args []string) error {
	fs := m.newFlagSet("keys update")
	flags := keyFlags(fs)
	asJSON := fs.Bool("json", false, "print the updated key as JSON")
	var limit rateLimitFlag
	fs.Var(&limit, "rate-limit", "requests per minute (0: the server default)")
	var allow allowlistFlag
	fs.Var(&allow, "allowed-ips", "comma-separated IPs and CIDRs; empty clears the list (all IPs)")
	id, err := oneKeyID(fs, args)
	if err != nil {
		return err
	}
	if !limit.set && !allow.set {
		return usagef("keys update: nothing to change; give --rate-limit and/or --allowed-ips")
	}
	svc, cfg, closeStore, err := m.openService(flags)
	if err != nil {
		return err
	}
	defer closeStore()
	var u triggers.KeyUpdate
	if limit.set {
		u.RateLimit = &limit.n
	}
	if allow.set {
		u.AllowedIPs = &allow.prefixes
	}
	k, err := svc.UpdateKey(ctx, id, u)
	if err != nil {
		return err
	}
	if *asJSON {
		return m.printJSON(toKeyJSON(k, cfg))
	}
	fmt.Fprintf(m.Stdout, "updated key %s (tenant %s): rate limit %d/min, allowed IPs %v\n",
		k.ID, k.Tenant, effectiveRateLimit(k, cfg), triggers.FormatAllowlist(k.AllowedIPs))
	return nil
}
