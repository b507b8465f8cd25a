package main

import (
	"flag"
	"time"

	"github.com/triggersapi/triggers/internal/app"
)

// newFlagSet returns a flag set that reports errors instead of exiting.
func (m *Main) newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("triggers "+name, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	return fs
}

// env returns the environment variable's value, or def when it is unset.
func (m *Main) env(name, def string) string {
	if v := m.Getenv(name); v != "" {
		return v
	}
	return def
}

// storeFlags registers the flags that choose the store, shared by serve and
// keys, each defaulting to its environment variable.
func (m *Main) storeFlags(fs *flag.FlagSet, cfg *app.Config) {
	fs.StringVar(&cfg.DataDir, "data-dir", m.env("TRIGGERS_DATA_DIR", "./data"), "directory of the embedded store (env TRIGGERS_DATA_DIR)")
	fs.StringVar(&cfg.Store, "store", m.env("TRIGGERS_STORE", "sqlite"), "store: sqlite or dynamodb (env TRIGGERS_STORE)")
	m.dynamoFlags(fs, cfg)
}

// dynamoFlags registers the flags that name the DynamoDB tables and endpoint.
func (m *Main) dynamoFlags(fs *flag.FlagSet, cfg *app.Config) {
	fs.StringVar(&cfg.Stage, "stage", m.env("TRIGGERS_STAGE", "dev"), "DynamoDB tables' stage: triggers-api-*-{stage} (env TRIGGERS_STAGE)")
	fs.StringVar(&cfg.DynamoDBEndpoint, "dynamodb-endpoint", m.env("TRIGGERS_DYNAMODB_ENDPOINT", ""),
		"DynamoDB endpoint URL, e.g. http://127.0.0.1:4567 for dynalite (env TRIGGERS_DYNAMODB_ENDPOINT; default: AWS)")
}

// durationFlag parses a Go duration from the environment for a flag default.
func (m *Main) durationEnv(name string, def time.Duration) (time.Duration, error) {
	v := m.Getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, usagef("%s=%q is not a positive Go duration such as 168h", name, v)
	}
	return d, nil
}

// parse parses args, mapping flag errors to usage errors.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usageError{err}
	}
	return nil
}

// flagSet reports whether the flag was given on the command line, so that
// an environment variable is read only when the flag is absent.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
