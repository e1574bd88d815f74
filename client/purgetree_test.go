package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/durabletest"
)

// leaf ends at once.
var leaf = durable.NewOrchestration("Leaf", func(ctx durable.Context, in string) (string, error) {
	return "leaf " + in, nil
})

// middle calls a leaf under the id it is given.
var middle = durable.NewOrchestration("Middle", func(ctx durable.Context, in string) (string, error) {
	return leaf.CallSub(ctx, in, durable.WithInstanceID(in+"-leaf")).Await(ctx)
})

// root calls a middle (which calls a leaf) and starts a child that waits
// for an event, and ends without waiting for it.
var root = durable.NewOrchestration("Root", func(ctx durable.Context, in string) (string, error) {
	out, err := middle.CallSub(ctx, in, durable.WithInstanceID(in+"-middle")).Await(ctx)
	if err != nil {
		return "", err
	}
	wait.CallSub(ctx, "", durable.WithInstanceID(in+"-waiting"))
	return out, nil
})

func newTreeEnv(t *testing.T) *durabletest.Env {
	e := newEnv(t)
	e.Register(leaf, middle, root)
	return e
}

func TestPurgeRecursiveTakesFinishedChildren(t *testing.T) {
	e := newTreeEnv(t)
	ctx, cancel := e.Context()
	defer cancel()
	r := durabletest.Start(e, root, "a", client.WithInstanceID("a"))
	if out, err := r.Result(); err != nil || out != "leaf a" {
		t.Fatalf("root: %q, %v", out, err)
	}
	waitTree(t, e, "a")

	// An unfinished root is refused whole, children included.
	running := durabletest.Start(e, wait, "", client.WithInstanceID("b"))
	running.WaitFor("running", func(s *client.State) bool { return s.Status == client.Running })
	if _, err := e.Client.PurgeRecursive(ctx, "b"); !errors.Is(err, client.ErrNotTerminal) {
		t.Errorf("recursive purge of a running instance: %v", err)
	}

	res, err := e.Client.PurgeRecursive(ctx, "a")
	if err != nil || res.InstancesDeleted != 3 || !res.Complete {
		t.Fatalf("PurgeRecursive: %+v, %v", res, err)
	}
	for _, id := range []string{"a", "a-middle", "a-leaf"} {
		if _, err := e.Client.GetState(ctx, id); !errors.Is(err, client.ErrNotFound) {
			t.Errorf("%s after the purge: %v", id, err)
		}
	}
	if st, err := e.Client.GetState(ctx, "a-waiting"); err != nil || st.Status != client.Running {
		t.Errorf("the unfinished child was touched: %+v, %v", st, err)
	}
	// Again: nothing left to purge, no error.
	if res, err := e.Client.PurgeRecursive(ctx, "a"); err != nil || res.InstancesDeleted != 0 {
		t.Errorf("second PurgeRecursive: %+v, %v", res, err)
	}
}

func TestPurgeWhereRecursive(t *testing.T) {
	e := newTreeEnv(t)
	ctx, cancel := e.Context()
	defer cancel()
	for _, id := range []string{"x", "y"} {
		if _, err := durabletest.Start(e, root, id, client.WithInstanceID(id)).Result(); err != nil {
			t.Fatal(err)
		}
		waitTree(t, e, id)
	}
	if _, err := e.Client.PurgeWhereRecursive(ctx, client.PurgeFilter{Statuses: []client.Status{client.Running}}); err == nil {
		t.Error("a filter of unfinished statuses only was accepted")
	}
	res, err := e.Client.PurgeWhereRecursive(ctx, client.PurgeFilter{AllStatuses: true})
	// x, y and their middles and leaves: the middles and leaves match the
	// filter themselves too, and are counted once.
	if err != nil || res.InstancesDeleted != 6 || !res.Complete {
		t.Fatalf("PurgeWhereRecursive: %+v, %v", res, err)
	}
	for _, id := range []string{"x-waiting", "y-waiting"} {
		if st, err := e.Client.GetState(ctx, id); err != nil || st.Status != client.Running {
			t.Errorf("%s: %+v, %v", id, st, err)
		}
	}
}

// waitTree waits until the children of the root id have settled: a
// parent hears of a child's end before the child's own row says so (the
// child sends its result before it writes its history and row, as C#
// does), so the root's completion alone does not mean its middle and leaf
// rows are final yet.
func waitTree(t *testing.T, e *durabletest.Env, id string) {
	t.Helper()
	waitStatus(t, e, id+"-middle", client.Completed)
	waitStatus(t, e, id+"-leaf", client.Completed)
	waitStatus(t, e, id+"-waiting", client.Running)
}

func waitStatus(t *testing.T, e *durabletest.Env, id string, want client.Status) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := e.Context()
		st, err := e.Client.GetState(ctx, id)
		cancel()
		if err == nil && st.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached %s: %+v, %v", id, want, st, err)
		}
		ctx, cancel = context.WithTimeout(context.Background(), 5*time.Millisecond)
		_ = e.Backend.WaitIdle(ctx)
		cancel()
	}
}
