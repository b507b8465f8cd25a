package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/triggersapi/triggers/internal/app"
)

// tables runs `triggers tables create`.
func (m *Main) tables(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "create" {
		return usagef("tables: the subcommand is create")
	}
	fs := m.newFlagSet("tables create")
	flags := app.NewFlags(fs, app.TablesSettings...)
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("tables create takes no arguments, got %q", fs.Args())
	}
	cfg, err := m.config(flags)
	if err != nil {
		return err
	}
	cfg.Store = "dynamodb"
	rep, err := app.CreateTables(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	for _, w := range rep.Warnings {
		fmt.Fprintf(m.Stderr, "warning: %s\n", w)
	}
	fmt.Fprintf(m.Stdout, "stage %s: created [%s], already there [%s]\n", cfg.Stage,
		strings.Join(rep.Created, " "), strings.Join(rep.Existing, " "))
	return nil
}
