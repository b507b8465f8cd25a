package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/triggersapi/triggers/internal/app"
)

// serve runs the API server until SIGINT or SIGTERM. Its "listening" log
// line carries the version.
func (m *Main) serve(ctx context.Context, args []string) error {
	fs := m.newFlagSet("serve")
	flags := app.NewFlags(fs, app.ServeSettings...)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("serve takes no arguments, got %q", fs.Args())
	}
	cfg, err := m.config(flags)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	tuneGC(m.Getenv, logger)

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
