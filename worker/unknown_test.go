package worker_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/syncbuf"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/provider/memory"
	"github.com/azdurable/azdurable/worker"
)

// startOn runs a worker with the registrations on be until the returned
// function (also a cleanup) is called.
func startOn(t *testing.T, be *memory.Backend, logs *syncbuf.Buffer, items ...durable.Registrable) (stop func()) {
	t.Helper()
	w := worker.New(be, worker.Options{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err := w.Register(items...); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

func waitDone(t *testing.T, c *client.Client, id string) *client.State {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st, err := c.WaitForCompletion(ctx, id, client.PollInterval(5*time.Millisecond, 50*time.Millisecond))
	if err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	return st
}

// A terminate that arrives together with the start of an orchestration
// this worker does not host takes effect: the instance ends Terminated with
// the reason, without its code.
func TestTerminateOfAnUnknownOrchestrationTakesEffect(t *testing.T) {
	be := memory.New(memory.Options{})
	logs := &syncbuf.Buffer{}
	c := client.New(be, client.Options{})
	ctx := context.Background()
	id, err := c.ScheduleNew(ctx, "Helo", "x")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Terminate(ctx, id, "typo"); err != nil {
		t.Fatal(err)
	}
	startOn(t, be, logs, hello)
	st := waitDone(t, c, id)
	if st.Status != client.Terminated || history.Deref(st.Output) != "typo" {
		t.Fatalf("state %+v", st)
	}
	// Terminated before it ever ran: no History rows at all (a terminate
	// sticks, and the unknown name never mattered).
	h, err := c.History(ctx, id, "")
	if err != nil || len(h) != 0 {
		t.Fatalf("history %v %v", h, err)
	}
}

var callsMissing = durable.NewOrchestration("CallsMissing", func(ctx durable.Context, _ string) (string, error) {
	if err := ctx.SetCustomStatus("calling"); err != nil {
		return "", err
	}
	return durable.CallActivity[string](ctx, "NoSuchActivity", "x").Await(ctx)
})

// Unknown names say why they wait: a Pending instance of an orchestration
// no worker hosts has the reason as its custom status; an instance that
// waits for an activity no worker hosts keeps its own custom status and
// the backend's diagnostics say which activity it waits for. Both are
// logged at WARN, never ERROR.
func TestUnknownNamesSayWhy(t *testing.T) {
	be := memory.New(memory.Options{})
	logs := &syncbuf.Buffer{}
	c := client.New(be, client.Options{})
	ctx := context.Background()
	startOn(t, be, logs, callsMissing)
	typo, err := c.ScheduleNew(ctx, "Helo", "x")
	if err != nil {
		t.Fatal(err)
	}
	waits, err := c.ScheduleNew(ctx, "CallsMissing", "x")
	if err != nil {
		t.Fatal(err)
	}
	until(t, "the Pending instance to say why", func() bool {
		st, err := c.GetState(ctx, typo)
		return err == nil && st.Status == client.Pending &&
			strings.Contains(history.Deref(st.CustomStatus), `azdurable: not started: orchestration \"Helo\" is not registered on this worker`)
	})
	until(t, "the activity to be given back", func() bool {
		d, err := be.Diagnostics(ctx, waits)
		return err == nil && len(d.Stalled) == 1 && d.Stalled[0].Kind == provider.StalledActivity && d.Stalled[0].Name == "NoSuchActivity"
	})
	// The activity message is sent before the instance's row is written
	// (commit order: messages, history, row), so the activity can be given
	// back while the row still says Pending: wait for the row.
	until(t, "the waiting instance to be Running with its own custom status", func() bool {
		st, err := c.GetState(ctx, waits)
		return err == nil && st.Status == client.Running && history.Deref(st.CustomStatus) == `"calling"`
	})
	if d, err := be.Diagnostics(ctx, typo); err != nil || len(d.Stalled) != 1 || d.Stalled[0].Name != "Helo" {
		t.Errorf("the Pending instance's diagnostics: %+v %v", d, err)
	}
	// The worker logs a give-back once the backend has recorded it, after
	// what the waits above see: wait for both lines.
	until(t, "both give-backs to be logged", func() bool {
		l := logs.String()
		return strings.Contains(l, "level=WARN msg=\"worker: gave an orchestration work item back") &&
			strings.Contains(l, "level=WARN msg=\"worker: gave an activity work item back")
	})
	if l := logs.String(); strings.Contains(l, "level=ERROR") {
		t.Errorf("log: %s", l)
	}
}

// A worker that gives a work item back because it lacks the name never
// makes it poison: however often it was given back, a worker that hosts
// the name, with a dequeue limit of 1, runs it.
func TestGiveBacksAreNeverCountedTowardsPoison(t *testing.T) {
	be := memory.New(memory.Options{AutoAdvance: true, MaxDequeueCount: 1})
	logs := &syncbuf.Buffer{}
	c := client.New(be, client.Options{})
	ctx := context.Background()
	stopA := startOn(t, be, logs, callsMissing)
	id, err := c.ScheduleNew(ctx, "CallsMissing", "x")
	if err != nil {
		t.Fatal(err)
	}
	typo, err := c.ScheduleNew(ctx, "Hello2", "x")
	if err != nil {
		t.Fatal(err)
	}
	until(t, "each work item to be given back ten times", func() bool {
		l := logs.String()
		return strings.Count(l, "gave an activity work item back") >= 10 && strings.Count(l, "instance="+typo) >= 10
	})
	stopA()
	hello2 := durable.NewOrchestration("Hello2", func(ctx durable.Context, s string) (string, error) { return "hi " + s, nil })
	missing := durable.NewActivity("NoSuchActivity", func(_ context.Context, s string) (string, error) { return "found " + s, nil })
	startOn(t, be, logs, callsMissing, missing, hello2)
	if st := waitDone(t, c, id); st.Status != client.Completed || history.Deref(st.Output) != `"found x"` {
		t.Errorf("%s: %+v", id, st)
	}
	if st := waitDone(t, c, typo); st.Status != client.Completed || history.Deref(st.Output) != `"hi x"` {
		t.Errorf("%s: %+v", typo, st)
	}
	if n := be.Stats().Quarantined; n != 0 {
		t.Errorf("%d messages quarantined", n)
	}
	for _, i := range []string{id, typo} {
		if d, _ := be.Diagnostics(ctx, i); len(d.Stalled) != 0 {
			t.Errorf("%s still stalled after it ran: %+v", i, d.Stalled)
		}
	}
}

var sendsToNobody = durable.NewOrchestration("SendsToNobody", func(ctx durable.Context, _ string) (string, error) {
	if err := durable.SendEvent(ctx, "", "Ping", "x"); err != nil {
		return "", err
	}
	return "sent", nil
})

// An episode the backend refuses as invalid (an event for an instance
// without id) is quarantined at once instead of being run again and again;
// the instance's status is left as it was, and the log says so once.
func TestInvalidEpisodeIsQuarantinedAtOnce(t *testing.T) {
	logs := &syncbuf.Buffer{}
	be := memory.New(memory.Options{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	c := client.New(be, client.Options{})
	ctx := context.Background()
	startOn(t, be, logs, sendsToNobody)
	id, err := c.ScheduleNew(ctx, "SendsToNobody", "x")
	if err != nil {
		t.Fatal(err)
	}
	until(t, "the quarantine", func() bool { return be.Stats().Quarantined == 1 })
	if st, err := c.GetState(ctx, id); err != nil || st.Status != client.Pending {
		t.Errorf("state %+v %v", st, err)
	}
	d, err := be.Diagnostics(ctx, id)
	if err != nil || len(d.Quarantined) != 1 || d.Quarantined[0].EventType != "ExecutionStarted" ||
		!strings.Contains(d.Quarantined[0].Reason, "invalid") {
		t.Errorf("diagnostics %+v %v", d, err)
	}
	if l := logs.String(); strings.Count(l, "episode quarantined") != 1 || !strings.Contains(l, "orchestration=SendsToNobody") ||
		strings.Contains(l, "abandoning orchestration work item") {
		t.Errorf("log: %s", l)
	}
}
