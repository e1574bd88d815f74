package azurestorage_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/syncbuf"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/storage"
)

// dupChildRuns counts the executions of dupCount, the child's only
// activity.
var dupChildRuns atomic.Int32

var dupCount = durable.NewActivity("DupCount", func(ctx context.Context, n int) (int, error) {
	dupChildRuns.Add(1)
	return n + 1, nil
})

var dupChild = durable.NewOrchestration("DupChild", func(ctx durable.Context, n int) (int, error) {
	return dupCount.Call(ctx, n).Await(ctx)
})

var dupParent = durable.NewOrchestration("DupParent", func(ctx durable.Context, n int) (int, error) {
	return dupChild.CallSub(ctx, n, durable.WithInstanceID(ctx.InstanceID()+"-kid")).Await(ctx)
})

// failFirstBatchOf fails, before it reaches storage and so that the SDK
// does not retry it, the first table transaction whose body names the
// given PartitionKey: the first History commit of that instance.
type failFirstBatchOf struct {
	key  string
	done atomic.Bool
}

type injectedCommitFailure struct{}

func (injectedCommitFailure) Error() string {
	return "injected: the history commit failed before it reached storage"
}
func (injectedCommitFailure) NonRetriable() {}

func (p *failFirstBatchOf) Do(req *policy.Request) (*http.Response, error) {
	r := req.Raw()
	if p.done.Load() || r.Method != http.MethodPost || !strings.Contains(r.URL.Path, "$batch") || req.Body() == nil {
		return req.Next()
	}
	body, err := io.ReadAll(req.Body())
	if rerr := req.RewindBody(); err != nil || rerr != nil {
		return nil, errors.Join(err, rerr)
	}
	if bytes.Contains(body, []byte(`"PartitionKey":"`+p.key+`"`)) && p.done.CompareAndSwap(false, true) {
		return nil, injectedCommitFailure{}
	}
	return req.Next()
}

// TestRetriedParentEpisodeStartsItsChildOnce: an episode sends its
// messages before it writes its history, so a parent episode whose history
// write fails has started its child, and its retry starts it again. The
// second start must not run the child a second time (C# runs it again as a
// new execution, over the first one, even when that one has finished: its
// Instances row goes from Completed back to Running and its history is
// replaced). Seen in the chaos run as a finished child back at Running.
func TestRetriedParentEpisodeStartsItsChildOnce(t *testing.T) {
	hub := azuritetest.NewHub(t)
	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	const parent = "dup-parent"
	fail := &failFirstBatchOf{key: parent}
	be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: azuritetest.Account(t),
		MaxPollingInterval: 300 * time.Millisecond, Logger: log,
		Client: &storage.ClientOptions{PerRetryPolicies: []policy.Policy{fail}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.DeleteTaskHub(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := be.CreateTaskHub(ctx); err != nil {
		t.Fatal(err)
	}
	stop := runWorkerLogged(t, be, log, dupParent, dupChild, dupCount)
	defer stop()
	c := client.New(be, client.Options{})
	dupChildRuns.Store(0)
	if _, err := c.ScheduleNew(ctx, dupParent.Name(), 41, client.WithInstanceID(parent)); err != nil {
		t.Fatal(err)
	}
	st, err := c.WaitForCompletion(ctx, parent, client.PollInterval(50*time.Millisecond, 500*time.Millisecond))
	if err != nil || st.Status != client.Completed || *st.Output != "42" {
		t.Fatalf("parent: %+v %v", st, err)
	}
	if !fail.done.Load() {
		t.Fatal("the parent's first history commit was not failed: the test did not do what it is for")
	}
	// The second start is handled after the parent completed, or before:
	// wait until it was discarded, or ran the child again.
	const kid = parent + "-kid"
	waitUntil(t, "the child's second start to be handled", 3*time.Minute, func() bool {
		return dupChildRuns.Load() > 1 || strings.Contains(logs.String(), "duplicate ExecutionStarted")
	})
	if n := dupChildRuns.Load(); n != 1 {
		t.Errorf("the child's activity ran %d times, want once", n)
	}
	// Nothing runs the child again after this: its row and its history
	// keep the first run's completion.
	waitUntil(t, "the child to be Completed", 3*time.Minute, func() bool {
		s, err := c.GetState(ctx, kid)
		return err == nil && s.Status.IsTerminal()
	})
	ks, err := c.GetState(ctx, kid)
	if err != nil || ks.Status != client.Completed || *ks.Output != "42" {
		t.Fatalf("child: %+v %v", ks, err)
	}
	h, err := c.History(ctx, kid, "")
	if err != nil {
		t.Fatal(err)
	}
	starts, completed := 0, false
	for _, ev := range h {
		switch ev.(type) {
		case *history.ExecutionStartedEvent:
			starts++
		case *history.ExecutionCompletedEvent:
			completed = true
		}
	}
	if starts != 1 || !completed {
		t.Errorf("child history: %d ExecutionStarted, completed %v (%d events)", starts, completed, len(h))
	}
	if t.Failed() {
		t.Logf("logs:\n%s", logs.String())
	}
}
