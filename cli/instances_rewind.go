package cli

import (
	"errors"
	"fmt"

	"github.com/azdurable/azdurable/client"
	"github.com/spf13/cobra"
)

func newInstancesRewind() *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "rewind INSTANCE-ID",
		Short: "Run a failed instance again from where it failed",
		Long: `Rewinds a failed instance as the C# backend does: the failures are removed from
its history (the rows stay, as GenericEvents marked "Rewound: <type>"), failed
sub-orchestrations are rewound with it, it becomes Pending, and a worker, Go or
C#, runs the failed work again while everything that succeeded is replayed.
Work that followed the first failure (an activity's retries, say) runs again
too. Only a Failed instance can be rewound; run it again after fixing what
made it fail. A rewind that was interrupted can be run again.`,
		Args: exactArgs(1),
	}
	sf := addStorageFlags(cmd)
	cmd.Flags().StringVar(&reason, "reason", "", "reason, recorded in the history of each instance woken up")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, release, err := openClient(cmd, sf, false)
		defer release()
		if err != nil {
			return err
		}
		id := args[0]
		err = c.Rewind(cmd.Context(), id, reason)
		var se *client.StatusError
		switch {
		case errors.Is(err, client.ErrNotFound):
			return fmt.Errorf("instance %q not found", id)
		case errors.As(err, &se) && errors.Is(err, client.ErrNotFailed):
			return fmt.Errorf("instance %q is %s: only a failed instance can be rewound", id, se.Status)
		case err != nil:
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "rewound %s: a worker runs it again\n", id)
		return nil
	}
	return cmd
}

func newInstancesRestart() *cobra.Command {
	var newID bool
	cmd := &cobra.Command{
		Use:   "restart INSTANCE-ID",
		Short: "Start an instance's orchestration again with the same input",
		Long: `Starts the instance's orchestration again with its name, version, tags and
stored input. In place (the default) the instance must have ended; a new
execution replaces the old one under the same id. With --new-id a new instance
with a new id starts beside it, whatever its status, as the Durable Functions
restart route does by default. Prints the id of the new run.`,
		Args: exactArgs(1),
	}
	sf := addStorageFlags(cmd)
	cmd.Flags().BoolVar(&newID, "new-id", false, "start a new instance with a new id instead of restarting in place")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, release, err := openClient(cmd, sf, false)
		defer release()
		if err != nil {
			return err
		}
		id := args[0]
		var opts []client.RestartOption
		if newID {
			opts = append(opts, client.WithNewInstanceID(""))
		}
		got, err := c.Restart(cmd.Context(), id, opts...)
		var se *client.StatusError
		switch {
		case errors.Is(err, client.ErrNotFound):
			return fmt.Errorf("instance %q not found", id)
		case errors.As(err, &se) && errors.Is(err, client.ErrInstanceExists):
			return fmt.Errorf("instance %q is %s: it can be restarted in place once it has ended, or now with --new-id", se.InstanceID, se.Status)
		case err != nil:
			return err
		}
		if got == id {
			fmt.Fprintf(cmd.OutOrStdout(), "restarted %s\n", id)
		} else {
			fmt.Fprintf(cmd.OutOrStdout(), "restarted %s as %s\n", id, got)
		}
		return nil
	}
	return cmd
}
