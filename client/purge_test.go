package client_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/durabletest"
	"github.com/azdurable/azdurable/history"
)

// wait blocks until its "go" event arrives.
var wait = durable.NewOrchestration("Wait", func(ctx durable.Context, _ string) (string, error) {
	return durable.WaitForEvent[string](ctx, "go").Await(ctx)
})

func newEnv(t *testing.T) *durabletest.Env {
	e := durabletest.New(t, durabletest.Options{})
	e.Register(wait)
	return e
}

func TestPurgeRefusesUnfinished(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := e.Context()
	defer cancel()
	running := durabletest.Start(e, wait, "r", client.WithInstanceID("running"))
	running.WaitFor("running", func(s *client.State) bool { return s.Status == client.Running })
	suspended := durabletest.Start(e, wait, "s", client.WithInstanceID("suspended"))
	suspended.WaitFor("running", func(s *client.State) bool { return s.Status == client.Running })
	if err := e.Client.Suspend(ctx, "suspended", "hold"); err != nil {
		t.Fatal(err)
	}
	suspended.WaitFor("suspended", func(s *client.State) bool { return s.Status == client.Suspended })
	// Scheduled a day ahead: Pending until then.
	durabletest.Start(e, wait, "p", client.WithInstanceID("pending"), client.WithStartAt(e.Clock.Now().Add(24*time.Hour)))
	done := durabletest.Start(e, wait, "d", client.WithInstanceID("done"))
	e.RaiseEvent("done", "go", "now")
	if _, err := done.Result(); err != nil {
		t.Fatal(err)
	}

	// (The virtual clock may have reached the pending one's start by now.)
	for id, want := range map[string][]client.Status{"running": {client.Running}, "suspended": {client.Suspended},
		"pending": {client.Pending, client.Running}} {
		res, err := e.Client.Purge(ctx, id)
		var se *client.StatusError
		if !errors.Is(err, client.ErrNotTerminal) || !errors.As(err, &se) || !slices.Contains(want, se.Status) || se.Op != "purge" || se.InstanceID != id {
			t.Errorf("purge %s: %+v, %v", id, res, err)
		}
		if _, err := e.Client.GetState(ctx, id); err != nil {
			t.Errorf("%s is gone after a refused purge: %v", id, err)
		}
	}
	if res, err := e.Client.Purge(ctx, "nope"); err != nil || res.InstancesDeleted != 0 {
		t.Errorf("purge of an unknown id: %+v, %v", res, err)
	}

	// By filter: every finished status, and only those, whatever is asked.
	for _, f := range []client.PurgeFilter{{}, {Statuses: []client.Status{client.Running, client.Pending, client.Suspended}}} {
		if _, err := e.Client.PurgeWhere(ctx, f); err == nil {
			t.Errorf("purge by %+v accepted", f)
		}
	}
	res, err := e.Client.PurgeWhere(ctx, client.PurgeFilter{AllStatuses: true})
	if err != nil || res.InstancesDeleted != 1 {
		t.Fatalf("purge of every finished status: %+v, %v", res, err)
	}
	if _, err := e.Client.GetState(ctx, "done"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("the finished instance survived: %v", err)
	}
	for _, id := range []string{"running", "suspended", "pending"} {
		if _, err := e.Client.GetState(ctx, id); err != nil {
			t.Errorf("purge by filter took %s: %v", id, err)
		}
	}

	// Once finished it can be purged.
	if err := e.Client.Terminate(ctx, "running", "stop"); err != nil {
		t.Fatal(err)
	}
	running.WaitFor("terminated", func(s *client.State) bool { return s.Status == client.Terminated })
	if res, err := e.Client.Purge(ctx, "running"); err != nil || res.InstancesDeleted != 1 {
		t.Errorf("purge after terminate: %+v, %v", res, err)
	}
}

func TestDuplicateStartIsAConflict(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := e.Context()
	defer cancel()
	r := durabletest.Start(e, wait, "x", client.WithInstanceID("dup"))
	r.WaitFor("running", func(s *client.State) bool { return s.Status == client.Running })
	_, err := e.Client.ScheduleNew(ctx, wait.Name(), "y", client.WithInstanceID("dup"))
	var se *client.StatusError
	if !errors.Is(err, client.ErrInstanceExists) || !errors.As(err, &se) || se.Status != client.Running || se.Op != "start" {
		t.Fatalf("duplicate start: %v", err)
	}
}

func TestReasonsAndRawJSON(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := e.Context()
	defer cancel()
	raw := "{ \"a\" : 1.50, \"b\": 1E3 }\n"
	for _, c := range []struct {
		id   string
		opts []client.OperationOption
		want *string
	}{
		{"none", []client.OperationOption{client.WithoutReason()}, nil},
		{"empty", nil, ptr("")},
		{"given", nil, ptr("stop")},
	} {
		r := durabletest.Start(e, wait, "x", client.WithInstanceID(c.id))
		r.WaitFor("running", func(s *client.State) bool { return s.Status == client.Running })
		if err := e.Client.Suspend(ctx, c.id, "stop", c.opts...); err != nil {
			t.Fatal(err)
		}
		r.WaitFor("suspended", func(s *client.State) bool { return s.Status == client.Suspended })
		if err := e.Client.RaiseEvent(ctx, c.id, "other", client.RawJSON(raw)); err != nil {
			t.Fatal(err)
		}
		reason := "stop"
		if c.want != nil {
			reason = *c.want
		}
		if err := e.Client.Terminate(ctx, c.id, reason, c.opts...); err != nil {
			t.Fatal(err)
		}
		st := r.WaitFor("terminated", func(s *client.State) bool { return s.Status == client.Terminated })
		if !same(st.Output, c.want) {
			t.Errorf("%s: output %v, want %v", c.id, deref(st.Output), deref(c.want))
		}
		for _, ev := range e.History(c.id) {
			switch v := ev.(type) {
			case *history.ExecutionSuspendedEvent:
				if c.id != "empty" && !same(v.Reason, c.want) {
					t.Errorf("%s: suspend reason %v", c.id, deref(v.Reason))
				}
			case *history.ExecutionTerminatedEvent:
				if !same(v.Input, c.want) {
					t.Errorf("%s: termination input %v", c.id, deref(v.Input))
				}
			case *history.EventRaisedEvent:
				if deref(v.Input) != raw {
					t.Errorf("%s: raw event text %q", c.id, deref(v.Input))
				}
			}
		}
	}
	if _, err := e.Client.ScheduleNew(ctx, wait.Name(), client.RawJSON("{nope"), client.WithInstanceID("bad")); err == nil {
		t.Error("RawJSON that is not JSON accepted")
	}
	id, err := e.Client.ScheduleNew(ctx, wait.Name(), client.RawJSON(raw))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := e.Client.GetState(ctx, id); err != nil || deref(st.Input) != raw {
		t.Errorf("raw input: %v %v", st, err)
	}
}

func ptr(s string) *string { return &s }

func same(a, b *string) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func deref(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}
