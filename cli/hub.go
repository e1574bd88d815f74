package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/storage"
	"github.com/spf13/cobra"
)

func newHub() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hub",
		Short: "Create, delete and describe task hubs",
	}
	cmd.AddCommand(newHubCreate(), newHubDelete(), newHubInfo())
	return cmd
}

func newHubCreate() *cobra.Command {
	var sf *storageFlags
	var manager string
	cmd := &cobra.Command{
		Use:   "create --task-hub NAME [--partitions N] [storage flags]",
		Short: "Create a task hub's queues, tables and containers (idempotent)",
		Long: `Creates what C#'s DurableTask.AzureStorage creates for a task hub: the app
lease container, the partition lease store, the History and Instances tables,
the work-item queue and one control queue per partition. Resources that exist
are left alone, so running it again, or from several places at once, is safe.
A hub that exists with another partition count is refused and left unchanged.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			pm, err := parsePartitionManager(manager)
			if err != nil {
				return err
			}
			be, release, err := sf.backend(cmd.Context(), cmd, func(o *azurestorage.Options) { o.PartitionManager = pm })
			defer release()
			if err != nil {
				return err
			}
			if err := be.CreateTaskHub(cmd.Context()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "task hub %s is ready: %d partitions, %s partition manager\n", sf.taskHub, sf.partitions, manager)
			return nil
		},
	}
	sf = addStorageFlags(cmd)
	cmd.Flags().StringVar(&manager, "partition-manager", "table", "partition lease store to create: table (the <Hub>Partitions table, C#'s default) or safe (blob leases)")
	return cmd
}

func newHubDelete() *cobra.Command {
	var sf *storageFlags
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete --task-hub NAME [--yes] [storage flags]",
		Short: "Delete a task hub and every instance in it",
		Long: `Deletes every queue, table and blob container of a task hub, with all its
instances and their history, and the samples' container. It asks for the
task hub's name on standard input unless --yes is given.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := sf.hub(); err != nil {
				return err
			}
			if !yes {
				if err := confirmHubName(cmd.InOrStdin(), cmd.ErrOrStderr(), sf.taskHub); err != nil {
					return err
				}
			}
			var acct *storage.Account
			be, release, err := sf.backend(cmd.Context(), cmd, func(o *azurestorage.Options) { acct = o.Account })
			defer release()
			if err != nil {
				return err
			}
			if err := deleteHub(cmd.Context(), be, acct, sf.taskHub); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted task hub %s\n", sf.taskHub)
			return nil
		},
	}
	sf = addStorageFlags(cmd)
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "delete without asking for confirmation")
	return cmd
}

// confirmHubName asks for the hub's name and fails unless exactly that is typed.
func confirmHubName(in io.Reader, prompt io.Writer, hub string) error {
	fmt.Fprintf(prompt, "This deletes task hub %s with all its instances and their history.\ntype the task hub name to confirm: ", hub)
	line, err := bufio.NewReader(in).ReadString('\n')
	typed := strings.TrimSpace(line)
	fmt.Fprintln(prompt)
	if typed == hub {
		return nil
	}
	if typed == "" && err != nil {
		return usagef("not deleted: no confirmation on standard input (type %s, or pass --yes)", hub)
	}
	return usagef("not deleted: %q is not the task hub name %s", typed, hub)
}

func deleteHub(ctx context.Context, be *azurestorage.Backend, acct *storage.Account, hub string) error {
	if err := be.DeleteTaskHub(ctx); err != nil {
		return err
	}
	// The samples' container is named after the hub but is not one of the
	// C# layout's, so the backend does not know it.
	bs, err := acct.BlobService(nil)
	if err != nil {
		return err
	}
	_, err = bs.DeleteContainer(ctx, SamplesContainer(hub), nil)
	if err != nil && !bloberror.HasCode(err, bloberror.ContainerNotFound, bloberror.ContainerBeingDeleted) {
		return fmt.Errorf("deleting container %s: %w", SamplesContainer(hub), err)
	}
	return nil
}

func newHubInfo() *cobra.Command {
	var sf *storageFlags
	var asJSON bool
	var appNames []string
	cmd := &cobra.Command{
		Use:   "info --task-hub NAME [--json] [storage flags]",
		Short: "Show a task hub's partitions, queue depths, partition owners and app lease",
		Long: `Prints the hub's partition count, the approximate number of messages in each
control queue and the work-item queue, who owns each partition (owner, lease
expiry, whether it is draining, who asked to take it over) and which app holds
the app lease: as a table, or as JSON with --json. The partition count is read
from the hub; --partitions, if given, must match it.

The app lease names its holder by a lease id derived from the app's name, so
the name is shown when it is one hub info can check: the default app name here
($WEBSITE_SITE_NAME, else $DTFX_APP_NAME), the empty name (C#'s default when
neither is set) and the names given with --app-name.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			be, release, err := sf.backend(cmd.Context(), cmd, func(o *azurestorage.Options) { o.DoNotCreate = true })
			defer release()
			if err != nil {
				return err
			}
			info, err := be.Describe(cmd.Context())
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("partitions") && sf.partitions != info.Partitions {
				return &provider.PartitionCountError{TaskHub: sf.taskHub, Configured: sf.partitions, Hub: info.Partitions}
			}
			report := newHubReport(info, time.Now())
			report.AppLease.identify(cmd.Context(), be, appNames)
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(report)
			}
			return report.writeText(cmd.OutOrStdout())
		},
	}
	sf = addStorageFlags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	cmd.Flags().StringArrayVar(&appNames, "app-name", nil, "an app name to check the app lease's holder against (repeatable)")
	return cmd
}

// hubReport is what `hub info` prints; its JSON form is the --json output.
type hubReport struct {
	TaskHub          string        `json:"taskHub"`
	Partitions       int           `json:"partitions"`
	PartitionManager string        `json:"partitionManager"`
	Queues           []queueReport `json:"queues"`
	Owners           []ownerReport `json:"partitionOwners"`
	AppLease         appLease      `json:"appLease"`
}

type queueReport struct {
	Name     string `json:"name"`
	Messages int    `json:"messages"`
}

// ownerReport is one partition's lease: a Partitions row, or the ownership
// lease blob of a hub that uses the safe blob-lease manager.
type ownerReport struct {
	Partition string     `json:"partition"`
	Owner     string     `json:"owner"`
	NextOwner string     `json:"nextOwner,omitempty"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	Expired   bool       `json:"expired"`
	Draining  bool       `json:"draining"`
	// Epoch and Leased describe blob leases.
	Epoch  *int64 `json:"epoch,omitempty"`
	Leased *bool  `json:"leased,omitempty"`
}

type appLease struct {
	OwnerID string `json:"ownerId"`
	// OwnerAppName is the owner's app name when it is one of Checked.
	OwnerAppName *string `json:"ownerAppName,omitempty"`
	// Held says whether the lease is held now (nil if it could not be read).
	Held          *bool  `json:"held,omitempty"`
	DesiredSwapID string `json:"desiredSwapId,omitempty"`
	// DesiredSwapAppName is the app name that asked for the lease when it
	// is one of Checked.
	DesiredSwapAppName *string `json:"desiredSwapAppName,omitempty"`
	// Checked are the app names the lease ids were checked against.
	Checked []string `json:"appNamesChecked"`
}

// identify finds the app names of the lease ids among the names hub info
// can check, and whether the lease is held now (one more storage call).
func (l *appLease) identify(ctx context.Context, be *azurestorage.Backend, extra []string) {
	l.Checked = azurestorage.AppNameCandidates(extra...)
	if name, ok := azurestorage.AppNameOf(l.OwnerID, l.Checked...); ok {
		l.OwnerAppName = &name
	}
	if name, ok := azurestorage.AppNameOf(l.DesiredSwapID, l.Checked...); ok {
		l.DesiredSwapAppName = &name
	}
	if be == nil || l.OwnerID == "" {
		return
	}
	if held, err := be.AppLeaseHeld(ctx); err == nil {
		l.Held = &held
	}
}

// text is the app lease line of the table.
func (l appLease) text() string {
	if l.OwnerID == "" {
		return "nobody"
	}
	s := "owner " + l.OwnerID + " (" + l.appName(l.OwnerAppName) + ")"
	if l.Held != nil && *l.Held {
		s += ", held now"
	} else if l.Held != nil {
		s += ", not held now (expired or released)"
	}
	return s
}

func (l appLease) appName(name *string) string {
	if name != nil {
		return fmt.Sprintf("app %q", *name)
	}
	quoted := make([]string, len(l.Checked))
	for i, c := range l.Checked {
		quoted[i] = strconv.Quote(c)
	}
	return fmt.Sprintf("an app not named %s; check a name with --app-name", strings.Join(quoted, " or "))
}

func newHubReport(info *azurestorage.HubInfo, now time.Time) hubReport {
	r := hubReport{TaskHub: info.TaskHub, Partitions: info.Partitions, PartitionManager: "table",
		Queues: []queueReport{}, Owners: []ownerReport{},
		AppLease: appLease{OwnerID: info.AppLease.OwnerID, DesiredSwapID: info.AppLease.DesiredSwapID}}
	for name, n := range info.QueueDepths {
		r.Queues = append(r.Queues, queueReport{Name: name, Messages: n})
	}
	sort.Slice(r.Queues, func(i, j int) bool { return r.Queues[i].Name < r.Queues[j].Name })
	for _, row := range info.Owners {
		o := ownerReport{Partition: row.Partition, Owner: row.CurrentOwner, NextOwner: row.NextOwner, Draining: row.IsDraining}
		if !row.ExpiresAt.IsZero() {
			t := row.ExpiresAt.UTC()
			o.ExpiresAt = &t
			o.Expired = row.CurrentOwner != "" && !t.After(now)
		}
		r.Owners = append(r.Owners, o)
	}
	if len(info.Owners) == 0 && len(info.Leases) > 0 {
		r.PartitionManager = "safe"
		for _, l := range info.Leases {
			if l.Type != azurestorage.LeaseOwnership {
				continue
			}
			epoch, leased := l.Epoch, l.Leased
			r.Owners = append(r.Owners, ownerReport{Partition: l.PartitionID, Owner: l.Owner, Epoch: &epoch, Leased: &leased,
				Expired: l.Owner != "" && !l.Leased})
		}
	}
	return r
}

func (r hubReport) writeText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintf(tw, "task hub\t%s\n", r.TaskHub)
	fmt.Fprintf(tw, "partitions\t%d (%s partition manager)\n", r.Partitions, r.PartitionManager)
	fmt.Fprintf(tw, "app lease\t%s\n", r.AppLease.text())
	if r.AppLease.DesiredSwapID != "" {
		fmt.Fprintf(tw, "\tswap requested by %s (%s)\n", r.AppLease.DesiredSwapID, r.AppLease.appName(r.AppLease.DesiredSwapAppName))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintf(tw, "QUEUE\tMESSAGES\n")
	for _, q := range r.Queues {
		fmt.Fprintf(tw, "%s\t%d\n", q.Name, q.Messages)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintf(tw, "PARTITION\tOWNER\tEXPIRES\tDRAINING\tNEXT OWNER\n")
	for _, o := range r.Owners {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", o.Partition, dash(o.Owner), o.expiry(), yesNo(o.Draining), dash(o.NextOwner))
	}
	return tw.Flush()
}

func (o ownerReport) expiry() string {
	switch {
	case o.Owner == "":
		return "-" // a released row keeps its last expiry; it means nothing now
	case o.ExpiresAt != nil && o.Expired:
		return o.ExpiresAt.Format(time.RFC3339) + " (expired)"
	case o.ExpiresAt != nil:
		return o.ExpiresAt.Format(time.RFC3339)
	case o.Leased != nil && *o.Leased:
		return "leased"
	case o.Expired:
		return "not leased (expired)"
	}
	return "-"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
