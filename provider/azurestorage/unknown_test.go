package azurestorage_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/syncbuf"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/provider/azurestorage"
)

var greetLater = durable.NewActivity("GreetLater", func(_ context.Context, s string) (string, error) {
	return "hello " + s, nil
})

var callsGreetLater = durable.NewOrchestration("CallsGreetLater", func(ctx durable.Context, s string) (string, error) {
	if err := ctx.SetCustomStatus("calling"); err != nil {
		return "", err
	}
	return greetLater.Call(ctx, s).Await(ctx)
})

var onlyOnB = durable.NewOrchestration("OnlyOnB", func(ctx durable.Context, s string) (string, error) {
	return "B ran " + s, nil
})

// TestGiveBacksForUnknownNamesAreNeverPoison: worker A lacks an activity
// and an orchestration that worker B hosts. A gives their work items back
// several times (logged at WARN, never ERROR; the Pending instance shows
// why as its custom status, and both show why through Diagnostics); then
// B, with a dequeue limit of 1, runs both without quarantining anything,
// because a give-back replaces the message by a fresh copy. A terminate
// that arrives with the start of an orchestration A lacks takes effect.
func TestGiveBacksForUnknownNamesAreNeverPoison(t *testing.T) {
	hub := azuritetest.NewHub(t)
	acct := azuritetest.Account(t)
	logsA, logsB := &syncbuf.Buffer{}, &syncbuf.Buffer{}
	opts := func(id string, logs *syncbuf.Buffer) azurestorage.Options {
		return azurestorage.Options{TaskHub: hub, Account: acct, Partitions: 1, WorkerID: id, MaxDequeueCount: 1,
			MaxPollingInterval: 300 * time.Millisecond, Logger: logBuffer(logs)}
	}
	a, err := azurestorage.New(opts("worker-a", logsA))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.DeleteTaskHub(context.Background()) })
	defer func() {
		if t.Failed() {
			t.Log("worker A:\n" + logsA.String())
			t.Log("worker B:\n" + logsB.String())
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := a.CreateTaskHub(ctx); err != nil {
		t.Fatal(err)
	}
	c := client.New(a, client.Options{})
	// Started and terminated before any worker runs: A receives the start
	// and the terminate in one batch.
	if _, err := c.ScheduleNew(ctx, "OnlyOnB", "x", client.WithInstanceID("doomed")); err != nil {
		t.Fatal(err)
	}
	if err := c.Terminate(ctx, "doomed", "typo"); err != nil {
		t.Fatal(err)
	}
	stopA := runWorkerLogged(t, a, logBuffer(logsA), callsGreetLater)
	for _, s := range []struct{ name, id string }{{"CallsGreetLater", "needs-activity"}, {"OnlyOnB", "needs-orchestration"}} {
		if _, err := c.ScheduleNew(ctx, s.name, "x", client.WithInstanceID(s.id)); err != nil {
			t.Fatal(err)
		}
	}
	st, err := c.WaitForCompletion(ctx, "doomed", client.PollInterval(50*time.Millisecond, 500*time.Millisecond))
	if err != nil || st.Status != client.Terminated || history.Deref(st.Output) != "typo" {
		t.Fatalf("doomed: %+v %v", st, err)
	}
	// Terminated before it ever ran: a terminate sticks and writes no
	// History rows.
	if h, err := c.History(ctx, "doomed", ""); err != nil || len(h) != 0 {
		t.Errorf("doomed's history: %v %v", h, err)
	}
	waitUntil(t, "A to give each work item back three times", 3*time.Minute, func() bool {
		l := logsA.String()
		return strings.Count(l, "gave an activity work item back") >= 3 && strings.Count(l, "instance=needs-orchestration") >= 3
	})
	st, err = c.GetState(ctx, "needs-orchestration")
	if err != nil || st.Status != client.Pending || !strings.Contains(history.Deref(st.CustomStatus), `azdurable: not started: orchestration \"OnlyOnB\" is not registered on this worker`) {
		t.Errorf("needs-orchestration: %+v %v", st, err)
	}
	if d, err := a.Diagnostics(ctx, "needs-orchestration"); err != nil || len(d.Stalled) != 1 || d.Stalled[0].Worker != "worker-a" ||
		d.Stalled[0].Kind != provider.StalledOrchestration || d.Stalled[0].Name != "OnlyOnB" {
		t.Errorf("needs-orchestration diagnostics: %+v %v", d, err)
	}
	st, err = c.GetState(ctx, "needs-activity")
	if err != nil || st.Status != client.Running || history.Deref(st.CustomStatus) != `"calling"` {
		t.Errorf("needs-activity: %+v %v (its own custom status must stay)", st, err)
	}
	d, err := a.Diagnostics(ctx, "needs-activity")
	if err != nil || len(d.Stalled) != 1 || d.Stalled[0].Kind != provider.StalledActivity || d.Stalled[0].Name != "GreetLater" ||
		d.Stalled[0].TaskID == nil || *d.Stalled[0].TaskID != 0 || !strings.Contains(d.Stalled[0].Reason, `activity "GreetLater" is not registered`) {
		t.Errorf("needs-activity diagnostics: %+v %v", d, err)
	}
	stopA()
	if l := logsA.String(); strings.Contains(l, "level=ERROR") {
		t.Errorf("worker A logged an error")
	}

	b, err := azurestorage.New(opts("worker-b", logsB))
	if err != nil {
		t.Fatal(err)
	}
	runWorkerLogged(t, b, logBuffer(logsB), callsGreetLater, greetLater, onlyOnB)
	for id, out := range map[string]string{"needs-activity": `"hello x"`, "needs-orchestration": `"B ran x"`} {
		st, err := c.WaitForCompletion(ctx, id, client.PollInterval(50*time.Millisecond, 500*time.Millisecond))
		if err != nil || st.Status != client.Completed || history.Deref(st.Output) != out {
			t.Errorf("%s: %+v %v", id, st, err)
		}
		if d, err := b.Diagnostics(ctx, id); err != nil || len(d.Stalled) != 0 || len(d.Quarantined) != 0 {
			t.Errorf("%s diagnostics after it ran: %+v %v", id, d, err)
		}
	}
	for _, name := range poisonBlobs(t, acct, hub) {
		if !strings.Contains(name, "/stalled/") {
			t.Errorf("quarantined: %s", name)
		}
	}
	if strings.Contains(logsB.String(), "quarantined") {
		t.Errorf("worker B quarantined a message that was only given back")
	}
}
