package main

import (
	"flag"

	"github.com/triggersapi/triggers/internal/app"
)

// newFlagSet returns a flag set that reports errors instead of exiting.
func (m *Main) newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("triggers "+name, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	return fs
}

// config returns the configuration of a command whose flags fs has parsed:
// the settings registered by app.NewFlags, from their flags or their
// environment variables. A bad value is a usage error naming it.
func (m *Main) config(flags *app.Flags) (app.Config, error) {
	cfg, err := flags.Config(m.Getenv)
	if err != nil {
		return app.Config{}, usageError{err}
	}
	return cfg, nil
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
