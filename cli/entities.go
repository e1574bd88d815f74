package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/spf13/cobra"
)

// newEntities is the entities command: list, get, signal, delete and
// clean the durable entities of a task hub (Go or C# ones; both store
// them as the Durable Functions extension does).
func newEntities() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "entities",
		Short: "List, read, signal, delete and clean the durable entities of a task hub",
		Long: `Manages the durable entities of a task hub, whether Go workers or a C# Durable
Functions app wrote them. Entities are named NAME KEY (the name is
case-insensitive). Every subcommand takes the storage flags (--connection-string,
--account or --local, and --task-hub).`,
	}
	cmd.AddCommand(newEntitiesList(), newEntitiesGet(), newEntitiesSignal(), newEntitiesDelete(), newEntitiesClean())
	return cmd
}

func newEntitiesGet() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "get NAME KEY",
		Short: "Print an entity's state as JSON",
		Long: `Prints the entity's state as JSON text (for a counter, e.g. 18). With --json it
prints an object with the state, whether it exists, the lock holder, the
queue's length and the time of the last operation. An entity without state
is an error ("not found").`,
		Args: exactArgs(2),
	}
	sf := addStorageFlags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print an object with the state and the entity's scheduler details")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id := durable.NewEntityID(args[0], args[1])
		if err := id.Validate(); err != nil {
			return usageError{err}
		}
		c, release, err := openClient(cmd, sf, false)
		defer release()
		if err != nil {
			return err
		}
		m, err := c.GetEntity(cmd.Context(), id)
		if errors.Is(err, client.ErrNotFound) || (err == nil && !m.Exists && !asJSON) {
			return fmt.Errorf("entity %s not found", id)
		}
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		if !asJSON {
			_, err := fmt.Fprintln(out, *m.State)
			return err
		}
		return writeEntityJSON(cmd, m)
	}
	return cmd
}

// entityJSON is the --json form of an entity.
type entityJSON struct {
	Name              string          `json:"name"`
	Key               string          `json:"key"`
	Exists            bool            `json:"exists"`
	State             json.RawMessage `json:"state"`
	LockedBy          string          `json:"lockedBy,omitempty"`
	QueueSize         int             `json:"queueSize,omitempty"`
	LastOperationTime time.Time       `json:"lastOperationTime"`
}

func entityObject(m *client.EntityMetadata) entityJSON {
	o := entityJSON{Name: m.ID.Name, Key: m.ID.Key, Exists: m.Exists, LockedBy: m.LockedBy, QueueSize: m.QueueSize,
		LastOperationTime: m.LastModifiedAt.UTC()}
	if m.State != nil && json.Valid([]byte(*m.State)) {
		o.State = json.RawMessage(*m.State)
	}
	return o
}

func writeEntityJSON(cmd *cobra.Command, v any) error {
	if m, ok := v.(*client.EntityMetadata); ok {
		v = entityObject(m)
	}
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func newEntitiesList() *cobra.Command {
	var name, prefix, from, to string
	var top int
	var withState, deleted, asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List entities by name or name prefix and last operation time",
		Long: `Lists the entities of a task hub: every name, one name (--name) or names that
start with a prefix (--prefix), optionally only those whose last operation
was in a time range. Entities without state are left out unless --deleted.`,
		Args: exactArgs(0),
	}
	sf := addStorageFlags(cmd)
	fl := cmd.Flags()
	fl.StringVar(&name, "name", "", "only entities of this name")
	fl.StringVar(&prefix, "prefix", "", "only entities whose name starts with this text")
	fl.StringVar(&from, "last-operation-from", "", "only entities whose last operation was at or after this RFC 3339 time")
	fl.StringVar(&to, "last-operation-to", "", "only entities whose last operation was at or before this RFC 3339 time")
	fl.IntVar(&top, "top", 0, "list at most this many entities (0: all)")
	fl.BoolVar(&withState, "state", false, "include each entity's state")
	fl.BoolVar(&deleted, "deleted", false, "include entities without state")
	fl.BoolVar(&asJSON, "json", false, "print a JSON array instead of a table")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if name != "" && prefix != "" {
			return usagef("give --name or --prefix, not both")
		}
		if top < 0 {
			return usagef("--top must not be negative")
		}
		q := client.EntityQuery{ExactName: name, NamePrefix: prefix, FetchState: withState || asJSON, IncludeDeleted: deleted}
		var err error
		if q.LastOperationFrom, err = parseFlagTime("--last-operation-from", from); err != nil {
			return err
		}
		if q.LastOperationTo, err = parseFlagTime("--last-operation-to", to); err != nil {
			return err
		}
		c, release, err := openClient(cmd, sf, false)
		defer release()
		if err != nil {
			return err
		}
		var list []*client.EntityMetadata
		for m, err := range c.ListEntities(cmd.Context(), q) {
			if err != nil {
				return err
			}
			list = append(list, m)
			if top > 0 && len(list) == top {
				break
			}
		}
		if asJSON {
			objs := make([]entityJSON, 0, len(list))
			for _, m := range list {
				objs = append(objs, entityObject(m))
			}
			return writeEntityJSON(cmd, objs)
		}
		tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
		header := "NAME\tKEY\tLAST OPERATION\tLOCKED BY\tQUEUED"
		if withState {
			header += "\tSTATE"
		}
		fmt.Fprintln(tw, header)
		for _, m := range list {
			line := fmt.Sprintf("%s\t%s\t%s\t%s\t%d", m.ID.Name, m.ID.Key, m.LastModifiedAt.UTC().Format(time.RFC3339), dash(m.LockedBy), m.QueueSize)
			if withState {
				state := "-"
				if m.State != nil {
					state = *m.State
				}
				line += "\t" + state
			}
			fmt.Fprintln(tw, line)
		}
		return tw.Flush()
	}
	return cmd
}

func newEntitiesSignal() *cobra.Command {
	var input, inputFile, at string
	cmd := &cobra.Command{
		Use:   "signal NAME KEY OPERATION",
		Short: "Send an operation to an entity without waiting for it",
		Long: `Signals the entity NAME KEY with OPERATION and --input (JSON text; default no
input) or the JSON text of a file (--input-file, - for standard input); with
--at the operation is delivered at that RFC 3339 time. The entity is created
by its first operation.`,
		Args: exactArgs(3),
	}
	sf := addStorageFlags(cmd)
	cmd.Flags().StringVar(&input, "input", "", "the operation's input as JSON text")
	cmd.Flags().StringVar(&inputFile, "input-file", "", "read the input's JSON text from this file (- for standard input)")
	cmd.Flags().StringVar(&at, "at", "", "deliver the operation at this RFC 3339 time")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id := durable.NewEntityID(args[0], args[1])
		if err := id.Validate(); err != nil {
			return usageError{err}
		}
		payload, err := payloadFlags(cmd, "--input", input, "--input-file", inputFile)
		if err != nil {
			return err
		}
		var opts []durable.SignalOption
		if at != "" {
			t, err := parseFlagTime("--at", at)
			if err != nil {
				return err
			}
			opts = append(opts, durable.SignalAt(t))
		}
		c, release, err := openClient(cmd, sf, false)
		defer release()
		if err != nil {
			return err
		}
		if err := c.SignalEntity(cmd.Context(), id, args[2], payload, opts...); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "signalled %s on %s\n", args[2], id)
		return nil
	}
	return cmd
}

func newEntitiesDelete() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete NAME KEY",
		Short: "Send an entity its delete operation",
		Long: `Sends the entity the "delete" operation, as the Durable Functions HTTP API's
DELETE does: the entity deletes its state (Go entities, and C# class-based
ones, do so without code of their own). What remains of it in storage is
removed by "entities clean".`,
		Args: exactArgs(2),
	}
	sf := addStorageFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id := durable.NewEntityID(args[0], args[1])
		if err := id.Validate(); err != nil {
			return usageError{err}
		}
		c, release, err := openClient(cmd, sf, false)
		defer release()
		if err != nil {
			return err
		}
		if err := c.DeleteEntity(cmd.Context(), id); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "sent delete to %s\n", id)
		return nil
	}
	return cmd
}

func newEntitiesClean() *cobra.Command {
	var keepEmpty, keepLocks, onePage bool
	var olderThan time.Duration
	var pageSize int
	var token string
	cmd := &cobra.Command{
		Use:   "clean",
		Short: "Remove empty entities and release locks held by ended orchestrations",
		Long: `Removes what is left of entities without state (nothing locked or queued, last
operation longer ago than --older-than) and releases entity locks whose holder
is missing or has ended (a crash, or a terminate, inside a critical section).

The clean reads the hub's entities --page-size at a time and goes on until the
last page. With --one-page it stops after one page and prints the token that
--continuation-token takes to go on from there; a clean that fails part way
prints the token that resumes it.`,
		Args: exactArgs(0),
	}
	sf := addStorageFlags(cmd)
	cmd.Flags().BoolVar(&keepEmpty, "keep-empty", false, "do not remove empty entities")
	cmd.Flags().BoolVar(&keepLocks, "keep-locks", false, "do not release orphaned locks")
	cmd.Flags().DurationVar(&olderThan, "older-than", time.Minute, "only remove empty entities whose last operation is older than this")
	cmd.Flags().IntVar(&pageSize, "page-size", client.DefaultCleanPageSize, "entity instances read and cleaned per page (1 to 1000)")
	cmd.Flags().BoolVar(&onePage, "one-page", false, "clean one page only, and print the token that continues")
	cmd.Flags().StringVar(&token, "continuation-token", "", "go on from where a page (--one-page, or a clean that failed) stopped")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if pageSize < 1 || pageSize > 1000 {
			return usagef("--page-size must be between 1 and 1000")
		}
		if err := client.CheckCleanToken(token); err != nil {
			return usageError{err}
		}
		c, release, err := openClient(cmd, sf, false)
		defer release()
		if err != nil {
			return err
		}
		r := client.CleanRequest{RemoveEmpty: !keepEmpty, ReleaseOrphanedLocks: !keepLocks,
			OlderThan: time.Now().Add(-olderThan), PageSize: pageSize, ContinuationToken: token}
		var res client.CleanResult
		if onePage {
			res, err = c.CleanEntitiesPage(cmd.Context(), r)
		} else {
			res, err = c.CleanEntities(cmd.Context(), r)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "removed %d empty entities, released %d orphaned locks\n", res.EmptyEntitiesRemoved, res.OrphanedLocksRemoved)
		if res.ContinuationToken != "" {
			fmt.Fprintf(cmd.OutOrStdout(), "not done: go on with --continuation-token %s\n", res.ContinuationToken)
		}
		return err
	}
	return cmd
}
