package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/httpapi"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/spf13/cobra"
)

func newInstances(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "instances",
		Short: "List, inspect, start, signal and purge orchestration instances of a task hub",
		Long: `Manages the orchestration instances of a task hub, whether Go or C# workers
wrote them. Every subcommand takes the storage flags (--connection-string,
--account or --local, and --task-hub).`,
	}
	cmd.AddCommand(newInstancesList(), newInstancesShow(), newInstancesHistory(), newInstancesStart(a),
		newInstancesRaise(), newInstancesTerminate(), newInstancesLifecycle("suspend"), newInstancesLifecycle("resume"),
		newInstancesPurge(), newInstancesRewind(), newInstancesRestart())
	return cmd
}

// openClient opens the hub's storage and returns a client; release frees
// what opening started. Only start creates a missing task hub.
func openClient(cmd *cobra.Command, f *storageFlags, create bool) (*client.Client, func(), error) {
	be, release, err := f.backend(cmd.Context(), cmd, func(o *azurestorage.Options) { o.DoNotCreate = !create })
	if err != nil {
		return nil, release, err
	}
	return client.New(be, client.Options{}), release, nil
}

// filterFlags select instances for list and purge.
type filterFlags struct {
	statuses           []string
	createdFrom, until string
	prefix             string
}

func addFilterFlags(cmd *cobra.Command, statusHelp string) *filterFlags {
	f := &filterFlags{}
	fl := cmd.Flags()
	fl.StringSliceVar(&f.statuses, "status", nil, statusHelp)
	fl.StringVar(&f.createdFrom, "created-from", "", "only instances created at or after this RFC 3339 time")
	fl.StringVar(&f.until, "created-to", "", "only instances created at or before this RFC 3339 time")
	fl.StringVar(&f.prefix, "prefix", "", "only instances whose id starts with this text")
	return f
}

// query turns the flags into a client query.
func (f *filterFlags) query() (client.Query, error) {
	var q client.Query
	for _, s := range f.statuses {
		st, err := history.ParseStatus(strings.TrimSpace(s))
		if err != nil {
			return q, usagef("--status: %v (one of %s)", err, statusNames())
		}
		q.Statuses = append(q.Statuses, st)
	}
	var err error
	if q.CreatedFrom, err = parseFlagTime("--created-from", f.createdFrom); err != nil {
		return q, err
	}
	if q.CreatedTo, err = parseFlagTime("--created-to", f.until); err != nil {
		return q, err
	}
	q.InstanceIDPrefix = f.prefix
	return q, nil
}

func statusNames() string {
	var names []string
	for _, s := range history.Statuses() {
		names = append(names, s.String())
	}
	return strings.Join(names, ", ")
}

func parseFlagTime(flag, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, usagef("%s: %q is not an RFC 3339 time such as 2026-12-01T19:00:00Z", flag, v)
	}
	return t.UTC(), nil
}

func newInstancesList() *cobra.Command {
	var top, pageSize int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List instances, filtered by status, creation time and id prefix",
		Long: `Lists the task hub's instances in id order as a table, or with --json as a JSON
array of the status objects the HTTP API answers (inputs and outputs
included). At most --top instances are printed (0: all).`,
		Args: exactArgs(0),
	}
	sf := addStorageFlags(cmd)
	ff := addFilterFlags(cmd, "only instances in these statuses (repeat or separate with commas; any case)")
	cmd.Flags().IntVar(&top, "top", 100, "print at most this many instances (0: all)")
	cmd.Flags().IntVar(&pageSize, "page-size", 100, "instances read per storage query")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		q, err := ff.query()
		if err != nil {
			return err
		}
		if top < 0 || pageSize < 1 || pageSize > 1000 {
			return usagef("--top must be 0 or more and --page-size between 1 and 1000")
		}
		q.PageSize, q.FetchPayloads = pageSize, asJSON
		if top > 0 && top < pageSize {
			q.PageSize = top
		}
		c, release, err := openClient(cmd, sf, false)
		defer release()
		if err != nil {
			return err
		}
		var states []*client.State
		more := false
		for st, err := range c.Query(cmd.Context(), q) {
			if err != nil {
				return err
			}
			if top > 0 && len(states) == top {
				more = true
				break
			}
			states = append(states, st)
		}
		out := cmd.OutOrStdout()
		if asJSON {
			err = printStatusArray(out, states)
		} else {
			err = printInstanceTable(out, states)
		}
		if more {
			fmt.Fprintf(cmd.ErrOrStderr(), "more instances match; showing the first %d (use --top 0 for all)\n", top)
		}
		return err
	}
	return cmd
}

func printStatusArray(w io.Writer, states []*client.State) error {
	var buf bytes.Buffer
	buf.WriteString("[")
	for i, st := range states {
		if i > 0 {
			buf.WriteString(",")
		}
		buf.Write(httpapi.MarshalStatus(st, nil))
	}
	buf.WriteString("]")
	return printIndented(w, buf.Bytes())
}

func printIndented(w io.Writer, data []byte) error {
	var out bytes.Buffer
	if err := json.Indent(&out, data, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err := w.Write(out.Bytes())
	return err
}

// tableTime renders a time for tables: UTC, whole seconds.
func tableTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

func printInstanceTable(w io.Writer, states []*client.State) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE ID\tNAME\tSTATUS\tCREATED (UTC)\tLAST UPDATED (UTC)")
	for _, st := range states {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", st.InstanceID, st.Name, st.Status, tableTime(st.CreatedAt), tableTime(st.LastUpdatedAt))
	}
	return tw.Flush()
}

// getState reads an instance, turning "not found" into a readable error.
func getState(ctx context.Context, c *client.Client, id string, payloads bool) (*client.State, error) {
	st, err := c.GetState(ctx, id, client.WithInputsAndOutputs(payloads))
	if errors.Is(err, client.ErrNotFound) {
		return nil, fmt.Errorf("instance %q not found", id)
	}
	return st, err
}

func newInstancesShow() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show INSTANCE-ID",
		Short: "Show an instance's status, input, output and custom status",
		Long: `Prints one instance's status, followed by the work a worker gave back without
running it that still holds the instance back (an orchestration or activity
name no worker that received it hosts) and the instance's messages that were
quarantined in the <hub>-poison container. With --json it prints the status
object the HTTP API answers for GET instances/{id}, with "stalledWork" and
"quarantinedMessages" added when there are any.`,
		Args: exactArgs(1),
	}
	sf := addStorageFlags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the HTTP API's JSON status object")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return showInstance(cmd, sf, args[0], asJSON)
	}
	return cmd
}

func printState(w io.Writer, st *client.State) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	text := func(p *string) string {
		if p == nil {
			return "(none)"
		}
		return *p
	}
	line("Instance ID", st.InstanceID)
	line("Name", st.Name)
	if st.Version != "" {
		line("Version", st.Version)
	}
	line("Status", st.Status.String())
	line("Execution ID", st.ExecutionID)
	if st.ParentInstanceID != "" {
		line("Parent", st.ParentInstanceID)
	}
	line("Created", formatFull(st.CreatedAt))
	line("Last updated", formatFull(st.LastUpdatedAt))
	if !st.CompletedAt.IsZero() {
		line("Completed", formatFull(st.CompletedAt))
	}
	if st.ScheduledStartAt != nil {
		line("Scheduled start", formatFull(*st.ScheduledStartAt))
	}
	line("Input", text(st.Input))
	line("Output", text(st.Output))
	line("Custom status", text(st.CustomStatus))
	if f := st.Failure; f != nil && (f.ErrorType != "" || f.ErrorMessage != "") {
		line("Failure", strings.TrimPrefix(f.ErrorType+": "+f.ErrorMessage, ": "))
	}
	for _, k := range sortedKeys(st.Tags) {
		line("Tag "+k, st.Tags[k])
	}
	return tw.Flush()
}

func formatFull(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func newInstancesHistory() *cobra.Command {
	var asJSON bool
	var execution string
	cmd := &cobra.Command{
		Use:   "history INSTANCE-ID",
		Short: "Print the history events of an instance's execution",
		Long: `Prints the events of the instance's current execution (or of --execution) as a
table. With --json it prints a JSON array of the events in DurableTask.Core's
Newtonsoft form (PascalCase members, EventType as a number), one event per
line: the form durabletest.Replay reads back to check that changed
orchestration code still replays the history.`,
		Args: exactArgs(1),
	}
	sf := addStorageFlags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the events as JSON")
	cmd.Flags().StringVar(&execution, "execution", "", "execution id (default: the current execution)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, release, err := openClient(cmd, sf, false)
		defer release()
		if err != nil {
			return err
		}
		events, err := c.History(cmd.Context(), args[0], execution)
		if errors.Is(err, client.ErrNotFound) {
			return fmt.Errorf("instance %q not found", args[0])
		}
		if err != nil {
			return err
		}
		if asJSON {
			return printEventsJSON(cmd.OutOrStdout(), events)
		}
		return printEventTable(cmd.OutOrStdout(), events)
	}
	return cmd
}

func printEventsJSON(w io.Writer, events []history.Event) error {
	buf := []byte("[")
	for i, ev := range events {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, "\n  "...)
		buf = history.AppendEvent(buf, ev, history.Plain)
	}
	if len(events) > 0 {
		buf = append(buf, '\n')
	}
	buf = append(buf, "]\n"...)
	_, err := w.Write(buf)
	return err
}

func printEventTable(w io.Writer, events []history.Event) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tTIMESTAMP (UTC)\tEVENT\tID\tDETAILS")
	for i, ev := range events {
		b := ev.Base()
		id := "-"
		if b.EventID >= 0 {
			id = fmt.Sprint(b.EventID)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", i, b.Timestamp.UTC().Format("2006-01-02 15:04:05.000"), ev.Type(), id, eventDetails(ev))
	}
	return tw.Flush()
}

// eventDetails is a one-line summary of what an event carries.
func eventDetails(ev history.Event) string {
	p := func(s *string) string {
		if s == nil {
			return "null"
		}
		return short(*s)
	}
	switch v := ev.(type) {
	case *history.ExecutionStartedEvent:
		s := v.Name + " input=" + p(v.Input)
		if v.ParentInstance != nil {
			s += " parent=" + v.ParentInstance.OrchestrationInstance.InstanceID
		}
		return s
	case *history.ExecutionCompletedEvent:
		if v.FailureDetails != nil {
			return v.OrchestrationStatus.String() + ": " + short(v.FailureDetails.ErrorMessage)
		}
		return v.OrchestrationStatus.String() + " result=" + p(v.Result)
	case *history.ContinueAsNewEvent:
		return "result=" + p(v.Result)
	case *history.ExecutionTerminatedEvent:
		return "reason=" + p(v.Input)
	case *history.TaskScheduledEvent:
		if v.Input == nil { // C#'s layout keeps activity inputs out of the history
			return v.Name
		}
		return v.Name + " input=" + p(v.Input)
	case *history.TaskCompletedEvent:
		return fmt.Sprintf("task %d result=%s", v.TaskScheduledID, p(v.Result))
	case *history.TaskFailedEvent:
		return fmt.Sprintf("task %d: %s", v.TaskScheduledID, p(v.Reason))
	case *history.SubOrchestrationInstanceCreatedEvent:
		return v.Name + " instance=" + v.InstanceID + " input=" + p(v.Input)
	case *history.SubOrchestrationInstanceCompletedEvent:
		return fmt.Sprintf("task %d result=%s", v.TaskScheduledID, p(v.Result))
	case *history.SubOrchestrationInstanceFailedEvent:
		return fmt.Sprintf("task %d: %s", v.TaskScheduledID, p(v.Reason))
	case *history.TimerCreatedEvent:
		return "fire at " + formatFull(v.FireAt)
	case *history.TimerFiredEvent:
		return fmt.Sprintf("timer %d fired at %s", v.TimerID, formatFull(v.FireAt))
	case *history.EventRaisedEvent:
		return v.Name + " input=" + p(v.Input)
	case *history.EventSentEvent:
		return v.Name + " to " + v.InstanceID + " input=" + p(v.Input)
	case *history.ExecutionSuspendedEvent:
		return "reason=" + p(v.Reason)
	case *history.ExecutionResumedEvent:
		return "reason=" + p(v.Reason)
	}
	return ""
}

// short keeps table cells on one line and readable.
func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > 60 {
		r := []rune(s)
		s = string(r[:57]) + "..."
	}
	return s
}

func newInstancesStart(a *app) *cobra.Command {
	var id, input, inputFile, at string
	var wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "start ORCHESTRATION",
		Short: "Start an orchestration and print its instance id",
		Long: `Starts an orchestration by name and prints the new instance's id. The input is
JSON text (--input '"cities"', --input '{"id":"o1"}'), or the JSON text of a
file (--input-file in.json, or --input-file - for standard input), for inputs
too large for the command line; without either the input is null. --at
schedules the start: the instance stays Pending until then. With --wait the
command waits for the instance to finish (at most --timeout, if given) and
prints its final status; it exits with 1 unless the instance completed.

An orchestration this binary does not host is started all the same (workers
of other binaries may host it), with a warning that lists the names it does
host. An id that is taken by an instance that has not finished (it may have
been started a moment ago by someone else) is an error that says so. The task
hub is created if it does not exist.`,
		Args: exactArgs(1),
	}
	sf := addStorageFlags(cmd)
	cmd.Flags().StringVar(&id, "id", "", "instance id (default: a new GUID as 32 hex digits)")
	cmd.Flags().StringVar(&input, "input", "", "input as JSON text")
	cmd.Flags().StringVar(&inputFile, "input-file", "", "read the input's JSON text from this file (- for standard input)")
	cmd.Flags().StringVar(&at, "at", "", "start at this RFC 3339 time instead of now")
	traceParent := cmd.Flags().String("traceparent", "", "continue this W3C trace (00-<trace id>-<span id>-<flags>): the orchestration's spans join it")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait for the instance to finish and print its final status")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "with --wait, stop waiting after this long (e.g. 90s, 10m; default: no limit)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		name := args[0]
		var opts []client.StartOption
		if cmd.Flags().Changed("id") {
			if id == "" {
				return usagef("--id is empty: give an instance id, or leave --id out for a generated one")
			}
			opts = append(opts, client.WithInstanceID(id))
		}
		if at != "" {
			t, err := parseFlagTime("--at", at)
			if err != nil {
				return err
			}
			opts = append(opts, client.WithStartAt(t))
		}
		if *traceParent != "" {
			if !client.ValidTraceParent(*traceParent) {
				return usagef("--traceparent %q is not a W3C trace context (00-<32 hex trace id>-<16 hex span id>-<2 hex flags>)", *traceParent)
			}
			opts = append(opts, client.WithTraceParent(*traceParent))
		}
		if cmd.Flags().Changed("timeout") && !wait {
			return usagef("--timeout needs --wait")
		}
		if timeout < 0 {
			return usagef("--timeout must not be negative")
		}
		in, err := payloadFlags(cmd, "--input", input, "--input-file", inputFile)
		if err != nil {
			return err
		}
		c, release, err := openClient(cmd, sf, true)
		defer release()
		if err != nil {
			return err
		}
		newID, err := c.ScheduleNew(cmd.Context(), name, in, opts...)
		if errors.Is(err, client.ErrInstanceExists) {
			return instanceExists(cmd.Context(), c, id, err)
		}
		if err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), newID)
		warnIfNotHosted(cmd, a, HostInfo{Account: sf.opened, TaskHub: sf.taskHub}, name)
		if !wait {
			return nil
		}
		return waitAndPrint(cmd, c, newID, timeout)
	}
	return cmd
}

// jsonFlag checks that a flag holds JSON text and returns it for the
// client to store unchanged (nil when the flag is empty).
func jsonFlag(flag, v string) (any, error) {
	if v == "" {
		return nil, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(v)); err != nil {
		return nil, usagef("%s must be JSON text (for a string, quote it: '\"text\"'): %v", flag, err)
	}
	return json.RawMessage(buf.Bytes()), nil
}

func newInstancesRaise() *cobra.Command {
	var data, dataFile string
	cmd := &cobra.Command{
		Use:   "raise INSTANCE-ID EVENT",
		Short: "Send an external event to a running instance",
		Long: `Sends the event EVENT with --data (JSON text; default null), or with the JSON
text of a file (--data-file data.json, or --data-file - for standard input), to
the instance. The instance must exist and must not have finished.`,
		Args: exactArgs(2),
	}
	sf := addStorageFlags(cmd)
	cmd.Flags().StringVar(&data, "data", "", "event payload as JSON text")
	cmd.Flags().StringVar(&dataFile, "data-file", "", "read the payload's JSON text from this file (- for standard input)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		payload, err := payloadFlags(cmd, "--data", data, "--data-file", dataFile)
		if err != nil {
			return err
		}
		c, release, err := openClient(cmd, sf, false)
		defer release()
		if err != nil {
			return err
		}
		if _, err := activeState(cmd.Context(), c, args[0]); err != nil {
			return err
		}
		if err := c.RaiseEvent(cmd.Context(), args[0], args[1], payload); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "raised %s on %s\n", args[1], args[0])
		return nil
	}
	return cmd
}

// activeState reads an instance that must not have finished, and that
// is an orchestration's, for the commands that send it a message.
func activeState(ctx context.Context, c *client.Client, id string) (*client.State, error) {
	if _, ok := durable.ParseEntityInstanceID(id); ok {
		// Its commands are orchestrations': a terminated entity drops every
		// later signal, and it reads no event, suspend or resume.
		return nil, fmt.Errorf("instance %q is a durable entity: send it operations with `azdurable entities signal` (purge and `azdurable entities delete` remove it)", id)
	}
	st, err := getState(ctx, c, id, false)
	if err != nil {
		return nil, err
	}
	if st.Status.IsTerminal() {
		return nil, fmt.Errorf("instance %q has already finished (%s)", id, st.Status)
	}
	return st, nil
}
