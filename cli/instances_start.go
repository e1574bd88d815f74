package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/internal/registry"
	"github.com/spf13/cobra"
)

// payloadFlags returns the JSON payload given inline (textFlag) or in a
// file (fileFlag, "-" for standard input); nil when neither is given.
// Inputs of megabytes cannot be passed in argv, hence the file.
func payloadFlags(cmd *cobra.Command, textFlag, text, fileFlag, file string) (any, error) {
	if cmd.Flags().Changed(textFlag[2:]) && cmd.Flags().Changed(fileFlag[2:]) {
		return nil, usagef("give %s or %s, not both", textFlag, fileFlag)
	}
	if !cmd.Flags().Changed(fileFlag[2:]) {
		return jsonFlag(textFlag, text)
	}
	var data []byte
	var err error
	source := file
	switch file {
	case "":
		return nil, usagef("%s is empty: give a file name, or - for standard input", fileFlag)
	case "-":
		source = "standard input"
		data, err = io.ReadAll(cmd.InOrStdin())
	default:
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fileFlag, err)
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, usagef("%s: %s is empty; it must hold JSON text (null for no value)", fileFlag, source)
	}
	return jsonFlag(fileFlag+" "+source, string(data))
}

// instanceExists explains a start refused because the id is taken: by an
// instance that has not finished, which may have been started a moment ago
// by a concurrent start of the same id.
func instanceExists(ctx context.Context, c *client.Client, id string, err error) error {
	st, serr := c.GetState(ctx, id, client.WithInputsAndOutputs(false))
	if serr != nil {
		return fmt.Errorf("instance %q already exists and has not finished (another start of this id may have come first); nothing was started: use another --id, or wait for it to finish", id)
	}
	return fmt.Errorf("instance %q already exists: it is %s, created %s (another start of this id may have come first); nothing was started: use another --id, or wait for it to finish",
		id, st.Status, formatFull(st.CreatedAt))
}

// warnIfNotHosted warns on stderr when this binary does not host the
// orchestration it just started: the instance runs only where a worker
// hosts the name (another binary may), so a typo would otherwise wait in
// silence. The names it does host are listed.
func warnIfNotHosted(cmd *cobra.Command, a *app, h HostInfo, name string) {
	items, err := a.registrations(h)
	if err != nil {
		return // the registrations need more than a client has; say nothing
	}
	reg := registry.New(nil)
	if registry.Add(reg, items...) != nil {
		return
	}
	if _, ok := reg.Orchestrator(name, ""); ok {
		return
	}
	var names []string
	for _, it := range items {
		n, ok := it.(interface {
			Name() string
			Version() string
		})
		if !ok {
			continue
		}
		if _, isOrch := reg.Orchestrator(n.Name(), n.Version()); isOrch && !slices.Contains(names, n.Name()) {
			names = append(names, n.Name())
		}
	}
	slices.Sort(names)
	hosted := "it hosts none"
	if len(names) > 0 {
		hosted = "it hosts " + strings.Join(names, ", ")
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "azdurable: warning: this binary hosts no orchestration named %q (%s); the instance was started and runs only when a worker that hosts %q takes it\n",
		name, hosted, name)
}

// waitAndPrint waits for the instance to finish (at most timeout when it
// is not 0; Ctrl-C stops waiting) and prints its final status. An instance
// that did not complete, or is still running, is an error.
func waitAndPrint(cmd *cobra.Command, c *client.Client, id string, timeout time.Duration) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
	defer stop()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	st, err := c.WaitForCompletion(ctx, id)
	if err != nil {
		if ctx.Err() == nil {
			return err
		}
		why := "interrupted"
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			why = "timed out after " + timeout.String()
		}
		now := "has not finished"
		if st, serr := c.GetState(cmd.Context(), id, client.WithInputsAndOutputs(false)); serr == nil {
			now = "is " + st.Status.String()
		}
		return fmt.Errorf("stopped waiting (%s): instance %q %s; it goes on without the command (azdurable instances show %s)", why, id, now, id)
	}
	if err := printState(cmd.OutOrStdout(), st); err != nil {
		return err
	}
	if st.Status != client.Completed {
		return fmt.Errorf("instance %q ended %s", id, st.Status)
	}
	return nil
}
