package main

import (
	"fmt"
	"log/slog"

	"github.com/azdurable/azdurable/cli"
	"github.com/spf13/cobra"
)

// The helpers of the commands this program adds to the command line
// (cli.WithCommands): their errors and logs read as the built-in
// commands' do.

// usagef is a usage error (exit status 2).
func usagef(format string, args ...any) error { return cli.UsageError(fmt.Errorf(format, args...)) }

// exactArgs is cobra.ExactArgs with a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		return cli.UsageError(cobra.ExactArgs(n)(cmd, args))
	}
}

// logLevel is the root's --log-level.
func logLevel(cmd *cobra.Command) string {
	if f := cmd.Flag("log-level"); f != nil {
		return f.Value.String()
	}
	return "warn"
}

// logger returns a logger for a command's stderr at the --log-level.
func logger(cmd *cobra.Command) *slog.Logger {
	level := slog.LevelWarn
	_ = level.UnmarshalText([]byte(logLevel(cmd)))
	return slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
}
