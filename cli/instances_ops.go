package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/provider"
	"github.com/spf13/cobra"
)

// errAborted is returned when the user does not confirm.
var errAborted = errors.New("aborted: nothing was changed")

// confirm asks a yes/no question on stderr and reads the answer from
// stdin; anything but y or yes (or no answer at all) is a no.
func confirm(cmd *cobra.Command, question string) error {
	fmt.Fprintf(cmd.ErrOrStderr(), "%s [y/N] ", question)
	line, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return errAborted
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func newInstancesTerminate() *cobra.Command {
	var reason string
	var recursive, yes bool
	cmd := &cobra.Command{
		Use:   "terminate INSTANCE-ID...",
		Short: "Terminate running instances",
		Long: `Asks each instance to terminate; the reason becomes its output. With
--recursive its running sub-orchestrations are terminated too. Terminating more
than one instance asks for confirmation unless --yes is given. The worker that
owns an instance applies the request.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("give at least one instance id")
			}
			return nil
		},
	}
	sf := addStorageFlags(cmd)
	cmd.Flags().StringVar(&reason, "reason", "", "termination reason (becomes the output)")
	cmd.Flags().BoolVar(&recursive, "recursive", false, "also terminate running sub-orchestrations")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, release, err := openClient(cmd, sf, false)
		defer release()
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		for _, id := range args {
			if _, err := activeState(ctx, c, id); err != nil {
				return err
			}
		}
		if len(args) > 1 && !yes {
			if err := confirm(cmd, fmt.Sprintf("Terminate %d instances?", len(args))); err != nil {
				return err
			}
		}
		var opts []client.TerminateOption
		if recursive {
			opts = append(opts, client.Recursive())
		}
		for _, id := range args {
			if err := c.Terminate(ctx, id, reason, opts...); err != nil {
				return fmt.Errorf("terminate %q: %w", id, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "terminate sent to %s\n", id)
		}
		return nil
	}
	return cmd
}

// newInstancesLifecycle builds suspend and resume.
func newInstancesLifecycle(op string) *cobra.Command {
	var reason string
	short := map[string]string{"suspend": "Suspend a running instance (events wait until it is resumed)",
		"resume": "Resume a suspended instance"}[op]
	cmd := &cobra.Command{
		Use:   op + " INSTANCE-ID",
		Short: short,
		Args:  exactArgs(1),
	}
	sf := addStorageFlags(cmd)
	cmd.Flags().StringVar(&reason, "reason", "", "reason, recorded in the history")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, release, err := openClient(cmd, sf, false)
		defer release()
		if err != nil {
			return err
		}
		ctx, id := cmd.Context(), args[0]
		st, err := activeState(ctx, c, id)
		if err != nil {
			return err
		}
		switch {
		case op == "suspend" && st.Status == client.Suspended:
			return fmt.Errorf("instance %q is already suspended", id)
		case op == "resume" && st.Status != client.Suspended:
			return fmt.Errorf("instance %q is %s, not suspended", id, st.Status)
		case op == "suspend":
			err = c.Suspend(ctx, id, reason)
		default:
			err = c.Resume(ctx, id, reason)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s sent to %s\n", op, id)
		return nil
	}
	return cmd
}

// purgeParallel bounds the instances purged at once.
const purgeParallel = 8

// progressMin is the number of instances from which a purge draws a
// progress bar.
const progressMin = 10

func newInstancesPurge() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "purge [INSTANCE-ID...]",
		Short: "Delete instances' history, status and payload blobs",
		Long: `Deletes finished instances (Completed, Failed, Canceled, Terminated) for good:
their History rows, Instances row and large-message blobs. An instance that has
not finished (Running, Pending, Suspended) is never purged: terminate it first.
With instance ids, those instances are purged. Without ids, the filters select
the instances: by default every finished status, or the finished statuses named
with --status. A purge by filter, or of more than one id, asks for confirmation
unless --yes is given, and shows its progress on stderr when
stderr is a terminal.`,
	}
	sf := addStorageFlags(cmd)
	ff := addFilterFlags(cmd, "finished statuses to purge (repeat or separate with commas; default: all of them)")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		q, err := ff.query()
		if err != nil {
			return err
		}
		byFilter := len(args) == 0
		if !byFilter && (len(q.Statuses) > 0 || !q.CreatedFrom.IsZero() || !q.CreatedTo.IsZero() || q.InstanceIDPrefix != "") {
			return usagef("give instance ids or filters, not both")
		}
		for _, st := range q.Statuses {
			if !provider.Purgeable(st) {
				return usagef("--status %s: only finished instances can be purged (Completed, Failed, Canceled, Terminated); terminate the others first", st)
			}
		}
		c, release, err := openClient(cmd, sf, false)
		defer release()
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
		defer stop()
		ids := args
		if byFilter {
			if len(q.Statuses) == 0 {
				q.Statuses = []client.Status{client.Completed, client.Failed, client.Canceled, client.Terminated}
			}
			if ids, err = matchingIDs(ctx, c, q); err != nil {
				return err
			}
			if len(ids) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no instance matches")
				return nil
			}
		}
		if (byFilter || len(ids) > 1) && !yes {
			if err := confirm(cmd, fmt.Sprintf("Purge %d instances (%s)? This cannot be undone.", len(ids), describe(q, byFilter))); err != nil {
				return err
			}
		}
		return purgeAll(ctx, cmd, c, ids, !byFilter)
	}
	return cmd
}

func matchingIDs(ctx context.Context, c *client.Client, q client.Query) ([]string, error) {
	var ids []string
	for st, err := range c.Query(ctx, q) {
		if err != nil {
			return nil, err
		}
		ids = append(ids, st.InstanceID)
	}
	return ids, nil
}

// describe says in words what a purge selects, for the confirmation.
func describe(q client.Query, byFilter bool) string {
	if !byFilter {
		return "by id"
	}
	var names []string
	for _, s := range q.Statuses {
		names = append(names, s.String())
	}
	parts := []string{"status " + strings.Join(names, ", ")}
	if !q.CreatedFrom.IsZero() {
		parts = append(parts, "created from "+formatFull(q.CreatedFrom))
	}
	if !q.CreatedTo.IsZero() {
		parts = append(parts, "created to "+formatFull(q.CreatedTo))
	}
	if q.InstanceIDPrefix != "" {
		parts = append(parts, "id prefix "+q.InstanceIDPrefix)
	}
	return strings.Join(parts, "; ")
}

// purgeAll purges ids, purgeParallel at a time, with a progress bar on
// stderr for long purges, and prints one summary line. Ids the user named
// that do not exist are errors.
func purgeAll(ctx context.Context, cmd *cobra.Command, c *client.Client, ids []string, named bool) error {
	var mu sync.Mutex
	var failed []string
	var errs []error
	done, instances, rows := 0, 0, 0
	bar := newProgress(cmd.ErrOrStderr(), len(ids), len(ids) >= progressMin && isTerminal(cmd.ErrOrStderr()))
	work := make(chan string)
	var wg sync.WaitGroup
	for range min(purgeParallel, len(ids)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				res, err := c.Purge(ctx, id)
				mu.Lock()
				done++
				instances += res.InstancesDeleted
				rows += res.RowsDeleted
				switch {
				case err != nil && !named && errors.Is(err, client.ErrNotTerminal):
					// Restarted since the filter selected it: no longer selected.
				case err != nil:
					failed = append(failed, id)
					errs = append(errs, fmt.Errorf("%s: %w", id, err))
				case res.InstancesDeleted == 0 && named:
					errs = append(errs, fmt.Errorf("instance %q not found", id))
				}
				bar.set(done)
				mu.Unlock()
			}
		}()
	}
feed:
	for _, id := range ids {
		select {
		case work <- id:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	bar.finish()
	if instances > 0 || len(errs) == 0 {
		fmt.Fprintf(cmd.OutOrStdout(), "purged %d instances (%d history rows)\n", instances, rows)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted after %d of %d instances", done, len(ids))
	}
	if len(failed) > 0 {
		slices.Sort(failed)
		return fmt.Errorf("%d instances could not be purged (%s): %w", len(failed), strings.Join(failed, ", "), errors.Join(errs...))
	}
	return errors.Join(errs...)
}

// isTerminal reports whether w is a terminal; progress bars are drawn
// only there, never into a pipe or a file. Tests replace it.
var isTerminal = func(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progress draws "purging [#####.....] 12/40" on one line of w.
type progress struct {
	w     io.Writer
	total int
	on    bool
	shown int // cells drawn so far, to redraw only on change
}

const progressCells = 30

func newProgress(w io.Writer, total int, on bool) *progress {
	p := &progress{w: w, total: total, on: on, shown: -1}
	p.set(0)
	return p
}

func (p *progress) set(done int) {
	if !p.on {
		return
	}
	cells := done * progressCells / p.total
	if cells == p.shown && done != p.total {
		return
	}
	p.shown = cells
	fmt.Fprintf(p.w, "\rpurging [%s%s] %d/%d", strings.Repeat("#", cells), strings.Repeat(".", progressCells-cells), done, p.total)
}

func (p *progress) finish() {
	if p.on {
		fmt.Fprintln(p.w)
	}
}
