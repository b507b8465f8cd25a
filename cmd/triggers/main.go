// Command triggers runs the Triggers API server and manages its API keys.
//
//	triggers serve [--addr :8080] [--data-dir ./data] [--dev-key KEY] [--retention 168h]
//	triggers keys create --tenant T [--name N] [--rate-limit N] [--allowed-ips LIST] [--key VALUE] [--json]
//	triggers keys list [--json]
//	triggers keys revoke KEY_ID
//	triggers keys update KEY_ID [--rate-limit N] [--allowed-ips LIST]
//	triggers tables create --stage S [--dynamodb-endpoint URL]
//	triggers version (or --version)
//
// Every configuration flag has an environment variable (TRIGGERS_ADDR,
// TRIGGERS_DATA_DIR, ...); both are parsed by package internal/app.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/internal/version"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command failed (store unavailable, ...)
	exitUsage = 2 // bad flags or invalid input
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := &Main{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	os.Exit(m.Run(ctx, os.Args[1:]))
}

// Main is the program, with its environment injected so that tests can run
// it in-process.
type Main struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// usageError marks errors caused by the command line or invalid input.
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// Run runs one command and returns its exit code.
func (m *Main) Run(ctx context.Context, args []string) int {
	err := m.run(ctx, args)
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue), triggers.ErrorCode(err) == triggers.EINVALID:
		fmt.Fprintf(m.Stderr, "triggers: %s\n", message(err))
		return exitUsage
	default:
		fmt.Fprintf(m.Stderr, "triggers: %s\n", message(err))
		return exitError
	}
}

func message(err error) string {
	var te *triggers.Error
	if errors.As(err, &te) && te.Code != triggers.EINTERNAL {
		return te.Message
	}
	return err.Error()
}

func (m *Main) run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		m.usage()
		return usagef("a command is required")
	}
	switch args[0] {
	case "serve":
		return m.serve(ctx, args[1:])
	case "keys":
		return m.keys(ctx, args[1:])
	case "tables":
		return m.tables(ctx, args[1:])
	case "version", "-version", "--version":
		fmt.Fprintln(m.Stdout, version.String())
		return nil
	case "help", "-h", "--help":
		m.usage()
		return nil
	default:
		m.usage()
		return usagef("unknown command %q", args[0])
	}
}

func (m *Main) usage() {
	fmt.Fprint(m.Stderr, `usage: triggers <command> [flags]

commands:
  serve                 run the API server
  keys create|list|revoke|update
                        manage API keys (works while a server runs)
  tables create         create the DynamoDB tables of a stage (idempotent)
  version, --version    print the version

Run 'triggers <command> -h' for a command's flags.
`)
}
