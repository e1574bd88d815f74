package cli

import (
	"bytes"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/azdurable/azdurable/durable"
	"github.com/spf13/cobra"
)

// A user's binary (Run with no options) has the built-in commands only:
// no bench, no demo, no worker --conformance.
func TestBuiltInCommands(t *testing.T) {
	var names []string
	for _, c := range newRoot(&app{}).Commands() {
		names = append(names, c.Name())
	}
	sort.Strings(names)
	if got, want := strings.Join(names, " "), "entities hub inspect instances schedules serve sidecar worker"; got != want {
		t.Errorf("commands %q, want %q", got, want)
	}
	var out, errOut bytes.Buffer
	if code := Run([]string{"worker", "--conformance", "--task-hub", "H"}, strings.NewReader(""), &out, &errOut); code != 2 ||
		!strings.Contains(errOut.String(), "unknown flag: --conformance") {
		t.Errorf("worker --conformance in a user's binary: exit %d, %q", code, errOut.String())
	}
	for _, cmd := range []string{"bench", "demo"} {
		errOut.Reset()
		if code := Run([]string{cmd}, strings.NewReader(""), &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "unknown command") {
			t.Errorf("%s in a user's binary: exit %d, %q", cmd, code, errOut.String())
		}
	}
}

// WithCommands adds a command that shares the root's flags and error
// handling; WithRegistrationFlag adds a worker flag.
func TestProgramOptions(t *testing.T) {
	hello := func() *cobra.Command {
		return &cobra.Command{Use: "hello", Args: cobra.ArbitraryArgs, RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return UsageError(errors.New("hello takes no arguments"))
			}
			cmd.Println("hello at", cmd.Flag("log-level").Value.String())
			return nil
		}}
	}
	extra := WithRegistrationFlag("extra", "also host the extra set", func(HostInfo) ([]durable.Registrable, error) { return nil, nil })
	var out, errOut bytes.Buffer
	if code := Run([]string{"hello", "--log-level", "info"}, strings.NewReader(""), &out, &errOut, WithCommands(hello), extra); code != 0 ||
		out.String() != "hello at info\n" {
		t.Errorf("added command: exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
	out.Reset()
	if code := Run([]string{"hello", "x"}, strings.NewReader(""), &out, &errOut, WithCommands(hello)); code != 2 ||
		!strings.Contains(errOut.String(), "azdurable: hello takes no arguments") {
		t.Errorf("added command's usage error: exit %d, stderr %q", code, errOut.String())
	}
	var w *cobra.Command
	a := &app{}
	extra(a)
	for _, c := range newRoot(a).Commands() {
		if c.Name() == "worker" {
			w = c
		}
	}
	if w == nil || w.Flags().Lookup("extra") == nil || w.Flags().Lookup("extra").Usage != "also host the extra set" {
		t.Errorf("the worker has no --extra flag")
	}
}
