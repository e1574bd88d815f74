package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/samples/counter"
	"github.com/azdurable/azdurable/worker"
	"github.com/spf13/cobra"
)

// entitiesCLI runs "entities <args>" on the command tree newEntities
// builds.
func entitiesCLI(ctx context.Context, args ...string) (string, error) {
	cmd := newEntities()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(ctx)
	return out.String(), err
}

// counterHub creates a hub on the test's Azurite with a worker hosting the
// counter sample for the rest of the test, and returns the hub's name and
// its backend.
func counterHub(t *testing.T) (string, *azurestorage.Backend) {
	t.Helper()
	hub := azuritetest.NewHub(t)
	be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: azuritetest.Account(t),
		MaxPollingInterval: 200 * time.Millisecond, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.DeleteTaskHub(context.Background()) })
	if err := be.CreateTaskHub(context.Background()); err != nil {
		t.Fatal(err)
	}
	w := worker.New(be, worker.Options{Logger: quietLog(), ShutdownTimeout: 5 * time.Second})
	if err := w.Register(counter.Registrations()...); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	return hub, be
}

func TestEntitiesCommands(t *testing.T) {
	hub, be := counterHub(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	storage := []string{"--connection-string", azuritetest.ConnectionString(t), "--task-hub", hub}
	must := func(args ...string) string {
		t.Helper()
		out, err := entitiesCLI(ctx, append(args, storage...)...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out
	}
	eventually := func(want string, args ...string) {
		t.Helper()
		azuritetest.WaitFor(t, time.Minute, strings.Join(args, " "), func() (bool, error) {
			out, _ := entitiesCLI(ctx, append(args, storage...)...)
			return out == want, nil
		})
	}
	if out := must("signal", "Counter", "k1", "add", "--input", "18"); out != "signalled add on @counter@k1\n" {
		t.Fatalf("signal: %q", out)
	}
	eventually("18\n", "get", "COUNTER", "k1")
	// The orchestration commands refuse an entity's instance before they
	// send anything: a terminated entity drops every later signal, and a
	// suspend, resume or event is nothing an entity reads.
	for _, cmd := range []*cobra.Command{newInstancesTerminate(), newInstancesLifecycle("suspend"), newInstancesLifecycle("resume"), newInstancesRaise()} {
		args := []string{"@counter@k1"}
		if strings.HasPrefix(cmd.Use, "raise") {
			args = append(args, "Approval")
		}
		var out, errOut bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&errOut)
		cmd.SetArgs(append(args, storage...))
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		if err := cmd.ExecuteContext(ctx); err == nil || !strings.Contains(err.Error(), "is a durable entity") {
			t.Errorf("instances %s on an entity: %v (printed %q)", cmd.Name(), err, out.String())
		}
	}
	if st, err := client.New(be, client.Options{}).GetState(ctx, "@counter@k1"); err != nil || st.Status != client.Running {
		t.Fatalf("the entity after the refused commands: %+v %v", st, err)
	}
	// The dashboard of serve signals through the client, its input JSON text.
	five := "5"
	if err := signalEntityWith(client.New(be, client.Options{}))(ctx, "Counter", "k1", "add", &five); err != nil {
		t.Fatalf("dashboard signal: %v", err)
	}
	eventually("23\n", "get", "counter", "k1")
	must("signal", "counter", "k2", "reset")
	eventually("0\n", "get", "counter", "k2")
	if out := must("list", "--name", "counter", "--state"); !strings.Contains(out, "k1") || !strings.Contains(out, "23") || !strings.Contains(out, "k2") {
		t.Fatalf("list:\n%s", out)
	}
	if out := must("list", "--prefix", "coun", "--json", "--top", "1"); !strings.HasPrefix(out, `[{"name":"counter","key":"k1","exists":true,"state":23,`) {
		t.Fatalf("list --json: %s", out)
	}
	must("delete", "Counter", "k2")
	azuritetest.WaitFor(t, time.Minute, "k2 deleted", func() (bool, error) {
		_, err := entitiesCLI(ctx, append([]string{"get", "Counter", "k2"}, storage...)...)
		return err != nil && strings.Contains(err.Error(), "not found"), nil
	})
	if out := must("clean", "--older-than", "0s"); out != "removed 1 empty entities, released 0 orphaned locks\n" {
		t.Fatalf("clean: %q", out)
	}
	if _, err := entitiesCLI(ctx, append([]string{"get", "Counter"}, storage...)...); err == nil {
		t.Fatal("get without a key accepted")
	}
}
