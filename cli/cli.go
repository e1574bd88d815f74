// Package cli is the azdurable command line. Main runs it; a user's own
// binary calls Main with its registrations to get the azdurable commands
// (worker, instances, entities, hub, serve, inspect, schedules) for its own
// orchestrations:
//
//	func main() { cli.Main(cli.WithRegistrations(myOrchestration, myActivity)) }
//
// Design note. Commands are cobra commands built fresh per Run call so that
// tests can run them in-process with their own arguments and streams. The
// root lists the built-in commands explicitly (newRoot); a program adds
// its own with WithCommands and extra worker registrations behind a flag
// with WithRegistrationFlag (cmd/azdurable adds bench, demo, the samples
// and worker --conformance that way, so a user's binary links none of
// them). Errors are printed
// once, as one line "azdurable: <reason>" made by the formatter of
// errors.go (a storage failure reads "<status> <code>: <meaning>; <what to
// do>", never the SDK's dump), and give exit status 1 (2 for usage errors,
// unknown commands and subcommands included); nothing else is printed on
// failure, so scripts can rely on stdout.
package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/storage"
	"github.com/spf13/cobra"
)

// usageError marks errors caused by how the command was called.
type usageError struct{ error }

// UsageError marks err as caused by how a command was called: Run prints
// it and exits with status 2. Commands added with WithCommands return it
// for bad arguments.
func UsageError(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err}
}

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// HostInfo tells a registration function where the worker runs, so that
// activities can be given the clients they need (for example a blob
// container for their output).
type HostInfo struct {
	Account *storage.Account
	TaskHub string
}

// Option configures Main and Run.
type Option func(*app)

// WithRegistrations adds orchestrations and activities to the commands
// that host a worker.
func WithRegistrations(items ...durable.Registrable) Option {
	return func(a *app) {
		a.register = append(a.register, func(HostInfo) ([]durable.Registrable, error) { return items, nil })
	}
}

// WithRegistrationFunc adds registrations built once the storage account
// is known.
func WithRegistrationFunc(f func(HostInfo) ([]durable.Registrable, error)) Option {
	return func(a *app) { a.register = append(a.register, f) }
}

// WithCommands adds commands to the root, beside the built-in ones. Each
// function is called once per Run; the command it returns shares the
// root's --log-level flag, and its errors are printed and give exit
// statuses as the built-in commands' do (see UsageError).
func WithCommands(cmds ...func() *cobra.Command) Option {
	return func(a *app) { a.commands = append(a.commands, cmds...) }
}

// WithRegistrationFlag adds the boolean flag --name to the worker command:
// given it, the worker also hosts what f returns. usage is the flag's help
// text.
func WithRegistrationFlag(name, usage string, f func(HostInfo) ([]durable.Registrable, error)) Option {
	return func(a *app) { a.flagged = append(a.flagged, flaggedRegistrations{name: name, usage: usage, f: f}) }
}

// flaggedRegistrations are registrations hosted when a worker flag is set.
type flaggedRegistrations struct {
	name, usage string
	f           func(HostInfo) ([]durable.Registrable, error)
}

// app is what the commands of one run share.
type app struct {
	register []func(HostInfo) ([]durable.Registrable, error)
	flagged  []flaggedRegistrations
	commands []func() *cobra.Command
	logLevel string
}

func (a *app) registrations(h HostInfo) ([]durable.Registrable, error) {
	var out []durable.Registrable
	for _, f := range a.register {
		items, err := f(h)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
	}
	return out, nil
}

// Main runs the command line with os.Args and exits.
func Main(opts ...Option) {
	stopTracing := startTracing(os.Stderr)
	code := Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, opts...)
	stopTracing()
	os.Exit(code)
}

// Run runs the command line with the given arguments and streams and returns
// the exit status.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer, opts ...Option) int {
	a := &app{}
	for _, o := range opts {
		o(a)
	}
	root := newRoot(a)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return 0
	}
	printError(stderr, err)
	var ue usageError
	if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command") || strings.HasPrefix(err.Error(), "unknown flag") {
		return 2
	}
	return 1
}

func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "azdurable",
		Short:         "Durable Task Framework for Go on Azure Storage",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.Version = version()
	root.SetVersionTemplate("azdurable {{.Version}}\n")
	root.AddCommand(newWorker(a), newInstances(a), newEntities(), newHub(), newServe(a), newInspect(), newSchedules(a), newSidecar(a))
	for _, c := range a.commands {
		root.AddCommand(c())
	}
	refuseUnknownSubcommands(root)
	return root
}

// refuseUnknownSubcommands makes every command group (a command that only
// holds subcommands, like "instances") fail with a usage error on an
// unknown subcommand; cobra would print the group's help and exit 0, so a
// typo in a script went unnoticed. A group given no subcommand prints its
// help.
func refuseUnknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		refuseUnknownSubcommands(sub)
	}
	if c == c.Root() || !c.HasSubCommands() || c.Runnable() {
		return // the root refuses unknown commands itself
	}
	c.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		var names []string
		for _, sub := range cmd.Commands() {
			if sub.IsAvailableCommand() {
				names = append(names, sub.Name())
			}
		}
		return usagef("unknown command %q for %q (its commands: %s)", args[0], cmd.CommandPath(), strings.Join(names, ", "))
	}
	c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
}

// logger returns a logger for a command's stderr at the --log-level.
func logger(cmd *cobra.Command) *slog.Logger {
	level := slog.LevelWarn
	if f := cmd.Flag("log-level"); f != nil {
		_ = level.UnmarshalText([]byte(f.Value.String()))
	}
	return slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
}

// exactArgs is cobra.ExactArgs with a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

func maxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.MaximumNArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}
