package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/internal/schedule"
	"github.com/azdurable/azdurable/provider"
	"github.com/spf13/cobra"
)

func newSchedules(*app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedules",
		Short: "Create, list, pause, resume and delete schedules that start orchestrations on a CRON expression",
		Long: `A schedule starts an orchestration on a CRON expression, in an explicit time
zone, until it is deleted. It lives in the task hub as the instance
schedule:NAME and is run by the hub's Go workers (every azdurable worker
hosts it), so it survives worker restarts. Each tick starts the orchestration
with the instance id NAME@<tick time in UTC, yyyyMMddTHHmmssZ>, exactly once.
Ticks missed while no worker ran follow the schedule's --catch-up policy.
Pause, resume and delete are messages the schedule applies in order, so they
take effect within a worker's polling interval. On a hub shared with C#
workers, a schedule runs only while a Go worker owns its partition.`,
	}
	cmd.AddCommand(newSchedulesCreate(), newSchedulesList(), newSchedulesControl("pause"),
		newSchedulesControl("resume"), newSchedulesControl("delete"))
	return cmd
}

// scheduleError words the client's schedule errors for the command line;
// validation errors are usage errors.
func scheduleError(cmd *cobra.Command, c *client.Client, name string, err error) error {
	switch {
	case errors.Is(err, provider.ErrInvalid):
		return usageError{err}
	case errors.Is(err, client.ErrScheduleExists):
		return fmt.Errorf("schedule %q already exists (delete it first, or pick another name)", name)
	case errors.Is(err, client.ErrScheduleNotFound):
		if info, gerr := c.GetSchedule(cmd.Context(), name); gerr == nil {
			return fmt.Errorf("schedule %q is %s", name, info.Status)
		}
		return fmt.Errorf("schedule %q does not exist", name)
	}
	return err
}

func newSchedulesCreate() *cobra.Command {
	var o schedule.Options
	var input, catchUp, end string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a schedule and print its first tick",
		Long: `Creates the schedule NAME (letters, digits, '.', '_' and '-'). --cron takes
five fields (minute hour day-of-month month day-of-week), six with seconds
first, or a descriptor such as @hourly or "@every 90s"; it is read in
--time-zone, an IANA name (default UTC). Each tick starts --orchestration with
--input (JSON text). A tick that could not start on time because no worker
ran is handled by --catch-up: latest (start the most recent missed tick
once, late), all (start every missed tick, late) or none (skip them); a
tick up to --grace late counts as on time. --end stops the schedule after
its last tick at or before that time. The task hub is created if it does
not exist.`,
		Args: exactArgs(1),
	}
	sf := addStorageFlags(cmd)
	fl := cmd.Flags()
	fl.StringVar(&o.Cron, "cron", "", "CRON expression (required)")
	fl.StringVar(&o.TimeZone, "time-zone", "UTC", "IANA time zone the expression is read in")
	fl.StringVar(&o.Orchestration, "orchestration", "", "orchestration each tick starts (required)")
	fl.StringVar(&o.Version, "version", "", "orchestration version")
	fl.StringVar(&input, "input", "", "each tick's input as JSON text")
	fl.StringVar(&catchUp, "catch-up", string(schedule.CatchUpLatest), "missed ticks: latest, all or none")
	fl.DurationVar(&o.Grace, "grace", schedule.DefaultGrace, "how late a tick may start and still count as on time")
	fl.StringVar(&end, "end", "", "end the schedule after its last tick at or before this RFC 3339 time")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		name := args[0]
		if o.Cron == "" || o.Orchestration == "" {
			return usagef("--cron and --orchestration are required")
		}
		if o.Grace <= 0 {
			return usagef("--grace must be positive")
		}
		var err error
		if o.CatchUp, err = schedule.ParseCatchUp(catchUp); err != nil {
			return usageError{err}
		}
		if o.End, err = parseFlagTime("--end", end); err != nil {
			return err
		}
		if o.Input, err = jsonFlag("--input", input); err != nil {
			return err
		}
		// Everything that needs no storage is checked before storage is
		// opened (a local Azurite is not started for a typo).
		if _, err := schedule.New(name, o, time.Now(), nil); err != nil {
			return usageError{err}
		}
		c, release, err := openClient(cmd, sf, true)
		defer release()
		if err != nil {
			return err
		}
		info, err := c.CreateSchedule(cmd.Context(), name, client.ScheduleOptions{Cron: o.Cron, TimeZone: o.TimeZone,
			Orchestration: o.Orchestration, Version: o.Version, Input: o.Input, CatchUp: client.CatchUp(o.CatchUp), Grace: o.Grace, End: o.End})
		if err != nil {
			return scheduleError(cmd, c, name, err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "created schedule %s (instance %s): %s on %q in %s, first tick %s\n",
			info.Name, info.InstanceID, info.Orchestration, info.Cron, info.TimeZone, info.NextTick.Format(time.RFC3339))
		return nil
	}
	return cmd
}

func newSchedulesList() *cobra.Command {
	var all, asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the task hub's schedules with their next and last ticks",
		Long: `Lists the schedules in name order as a table, or with --json as a JSON array.
Deleted, ended, failed and terminated schedules are listed with --all only.
A schedule no worker has run yet is Pending.`,
		Args: exactArgs(0),
	}
	sf := addStorageFlags(cmd)
	cmd.Flags().BoolVar(&all, "all", false, "also list schedules that have finished")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, release, err := openClient(cmd, sf, false)
		defer release()
		if err != nil {
			return err
		}
		list, err := c.ListSchedules(cmd.Context(), client.IncludeFinished(all))
		if err != nil {
			return err
		}
		if asJSON {
			return printSchedulesJSON(cmd.OutOrStdout(), list)
		}
		return printScheduleTable(cmd.OutOrStdout(), list)
	}
	return cmd
}

func printScheduleTable(w io.Writer, list []*client.ScheduleInfo) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATUS\tCRON\tTIME ZONE\tORCHESTRATION\tNEXT TICK (UTC)\tLAST TICK (UTC)\tSTARTED\tSKIPPED\tFAILED")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\n", s.Name, s.Status, s.Cron, s.TimeZone, s.Orchestration,
			tableTime(s.NextTick), tableTime(s.LastTick), s.Started, s.Skipped, s.StartFailures)
	}
	return tw.Flush()
}

// scheduleJSON is a schedule as list --json prints it.
type scheduleJSON struct {
	Name           string                `json:"name"`
	InstanceID     string                `json:"instanceId"`
	Status         client.ScheduleStatus `json:"status"`
	Cron           string                `json:"cron"`
	TimeZone       string                `json:"timeZone"`
	Orchestration  string                `json:"orchestration"`
	Version        string                `json:"version,omitempty"`
	Input          json.RawMessage       `json:"input,omitempty"`
	CatchUp        string                `json:"catchUp"`
	Grace          string                `json:"grace"`
	End            time.Time             `json:"end,omitzero"`
	NextTick       time.Time             `json:"nextTick,omitzero"`
	LastTick       time.Time             `json:"lastTick,omitzero"`
	LastInstanceID string                `json:"lastInstanceId,omitempty"`
	Started        int64                 `json:"started"`
	Skipped        int64                 `json:"skipped"`
	StartFailures  int64                 `json:"startFailures"`
	LastError      string                `json:"lastError,omitempty"`
	AlreadyStarted int64                 `json:"alreadyStarted"`
	Failure        string                `json:"failure,omitempty"`
	CreatedAt      time.Time             `json:"createdAt"`
}

func printSchedulesJSON(w io.Writer, list []*client.ScheduleInfo) error {
	out := make([]scheduleJSON, 0, len(list))
	for _, s := range list {
		j := scheduleJSON{Name: s.Name, InstanceID: s.InstanceID, Status: s.Status, Cron: s.Cron, TimeZone: s.TimeZone,
			Orchestration: s.Orchestration, Version: s.Version, CatchUp: string(s.CatchUp), Grace: s.Grace.String(),
			End: s.End, NextTick: s.NextTick, LastTick: s.LastTick, LastInstanceID: s.LastInstanceID, Started: s.Started,
			Skipped: s.Skipped, StartFailures: s.StartFailures, LastError: s.LastError, AlreadyStarted: s.AlreadyStarted,
			Failure: s.Failure, CreatedAt: s.CreatedAt}
		if s.Input != nil {
			j.Input = json.RawMessage(*s.Input)
		}
		out = append(out, j)
	}
	data, err := json.Marshal(out)
	if err != nil {
		return err
	}
	return printIndented(w, data)
}

// newSchedulesControl builds pause, resume and delete.
func newSchedulesControl(op string) *cobra.Command {
	short := map[string]string{
		"pause":  "Pause a schedule: its ticks are skipped until it is resumed",
		"resume": "Resume a paused schedule from its next tick",
		"delete": "Delete a schedule: it starts nothing more (the instances it started stay)",
	}[op]
	cmd := &cobra.Command{
		Use:   op + " NAME",
		Short: short,
		Args:  exactArgs(1),
	}
	sf := addStorageFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		name := args[0]
		if err := schedule.ValidateName(name); err != nil {
			return usageError{err}
		}
		c, release, err := openClient(cmd, sf, false)
		defer release()
		if err != nil {
			return err
		}
		send := map[string]func(*client.Client) error{
			"pause":  func(c *client.Client) error { return c.PauseSchedule(cmd.Context(), name) },
			"resume": func(c *client.Client) error { return c.ResumeSchedule(cmd.Context(), name) },
			"delete": func(c *client.Client) error { return c.DeleteSchedule(cmd.Context(), name) },
		}[op]
		if err := send(c); err != nil {
			return scheduleError(cmd, c, name, err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s sent to schedule %s\n", op, name)
		return nil
	}
	return cmd
}
