package durable_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/durabletest"
	"github.com/azdurable/azdurable/history"
)

var alwaysFails = durable.NewActivity("AlwaysFails", func(context.Context, string) (string, error) {
	return "", errors.New("down")
})

// TestZeroRetryPolicyFailsTheOrchestration: RetryPolicy{} used to retry for
// ever with 0-second timers. Now the call schedules nothing and the
// orchestration that returns its error fails naming the fields.
func TestZeroRetryPolicyFailsTheOrchestration(t *testing.T) {
	orch := durable.NewOrchestration("ZeroRetry", func(ctx durable.Context, _ string) (string, error) {
		return alwaysFails.Call(ctx, "x", durable.WithRetry(durable.RetryPolicy{})).Await(ctx)
	})
	s := sim(t, orch, "ZeroRetry", alwaysFails)
	s.Start(str(`""`))
	// Bounded by hand: the old behaviour never completes.
	for i := 0; i < 50 && s.Completion == nil; i++ {
		if len(s.PendingTimers()) > 0 {
			s.FireTimers(0)
		}
		if _, err := s.Episode(); err != nil {
			t.Fatal(err)
		}
		s.CheckReplay()
	}
	c := s.Completion
	if c == nil {
		t.Fatalf("still retrying after %d episodes (%d history events)", s.Episodes, len(s.History))
	}
	out := history.Deref(c.Output)
	if c.Status != history.StatusFailed || !strings.Contains(out, "FirstRetryInterval") || !strings.Contains(out, "MaxAttempts") {
		t.Fatalf("completion %s %q, want Failed naming FirstRetryInterval and MaxAttempts", c.Status, out)
	}
	for _, ev := range s.History {
		if ev.Type() == history.TaskScheduled || ev.Type() == history.TimerCreated {
			t.Fatalf("a refused policy scheduled %s", ev.Type())
		}
	}
	if c.Failure == nil || !c.Failure.IsNonRetriable {
		t.Errorf("failure %+v: want non-retriable details", c.Failure)
	}
}

// TestZeroRetryPolicyOnAWorker runs the same on a worker (in-memory
// backend): the instance fails, and fails once.
func TestZeroRetryPolicyOnAWorker(t *testing.T) {
	orch := durable.NewOrchestration("ZeroRetryWorker", func(ctx durable.Context, _ string) (string, error) {
		return alwaysFails.Call(ctx, "x", durable.WithRetry(durable.RetryPolicy{})).Await(ctx)
	})
	env := durabletest.New(t, durabletest.Options{})
	env.Register(orch, alwaysFails)
	r := durabletest.Start(env, orch, "")
	_, err := r.Result()
	var fe *client.FailedError
	if !errors.As(err, &fe) || fe.State.Status != client.Failed || !strings.Contains(history.Deref(fe.State.Output), "FirstRetryInterval") {
		t.Fatalf("got %v, want a failed instance naming FirstRetryInterval", err)
	}
}

func TestRetryPolicyValidateNamesEveryField(t *testing.T) {
	ok := durable.RetryPolicy{MaxAttempts: 3, FirstRetryInterval: time.Second}
	with := func(f func(*durable.RetryPolicy)) durable.RetryPolicy { p := ok; f(&p); return p }
	cases := []struct {
		name   string
		p      durable.RetryPolicy
		fields string // "" for valid
	}{
		{"minimal", ok, ""},
		{"defaults spelled out", with(func(p *durable.RetryPolicy) { p.BackoffCoefficient, p.MaxRetryInterval = 1, time.Second }), ""},
		{"unlimited in practice", with(func(p *durable.RetryPolicy) { p.MaxAttempts, p.RetryTimeout = math.MaxInt, time.Hour }), ""},
		{"zero", durable.RetryPolicy{}, "FirstRetryInterval MaxAttempts"},
		{"negative interval", with(func(p *durable.RetryPolicy) { p.FirstRetryInterval = -time.Second }), "FirstRetryInterval"},
		{"negative attempts", with(func(p *durable.RetryPolicy) { p.MaxAttempts = -1 }), "MaxAttempts"},
		{"coefficient below 1", with(func(p *durable.RetryPolicy) { p.BackoffCoefficient = 0.5 }), "BackoffCoefficient"},
		{"negative coefficient", with(func(p *durable.RetryPolicy) { p.BackoffCoefficient = -2 }), "BackoffCoefficient"},
		{"NaN coefficient", with(func(p *durable.RetryPolicy) { p.BackoffCoefficient = math.NaN() }), "BackoffCoefficient"},
		{"max below first", with(func(p *durable.RetryPolicy) { p.MaxRetryInterval = time.Millisecond }), "MaxRetryInterval"},
		{"negative max", with(func(p *durable.RetryPolicy) { p.MaxRetryInterval = -1 }), "MaxRetryInterval"},
		{"negative timeout", with(func(p *durable.RetryPolicy) { p.RetryTimeout = -time.Minute }), "RetryTimeout"},
	}
	for _, c := range cases {
		err := c.p.Validate()
		if c.fields == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		var pe *durable.RetryPolicyError
		if !errors.As(err, &pe) {
			t.Errorf("%s: got %v, want a *RetryPolicyError", c.name, err)
			continue
		}
		if got := strings.Join(pe.Fields, " "); got != c.fields {
			t.Errorf("%s: fields %q, want %q", c.name, got, c.fields)
		}
		for _, f := range pe.Fields {
			if !strings.Contains(err.Error(), f) {
				t.Errorf("%s: message %q does not name %s", c.name, err, f)
			}
		}
	}
}

// TestRetryPolicyDefaultsInTheSchedule: a zero BackoffCoefficient is 1 and
// a zero MaxRetryInterval is no cap; the cap applies when set.
func TestRetryPolicyDefaultsInTheSchedule(t *testing.T) {
	for _, c := range []struct {
		p    durable.RetryPolicy
		want string
	}{
		{durable.RetryPolicy{MaxAttempts: 4, FirstRetryInterval: time.Second}, "W1@1s W3@2s W5@3s"},
		{durable.RetryPolicy{MaxAttempts: 4, FirstRetryInterval: time.Second, BackoffCoefficient: 3, MaxRetryInterval: 5 * time.Second}, "W1@1s W3@4s W5@9s"},
	} {
		p := c.p
		orch := durable.NewOrchestration("Schedule", func(ctx durable.Context, _ string) (string, error) {
			return alwaysFails.Call(ctx, "x", durable.WithRetry(p)).Await(ctx)
		})
		s := sim(t, orch, "Schedule", alwaysFails)
		s.Start(str(`""`))
		start := s.Now
		if comp := s.Run(); comp == nil || comp.Status != history.StatusFailed {
			t.Fatalf("%+v: completion %+v", p, comp)
		}
		var got []string
		for _, ev := range s.History {
			if v, ok := ev.(*history.TimerCreatedEvent); ok {
				got = append(got, fmt.Sprintf("W%d@%v", v.EventID, v.FireAt.Sub(start)))
			}
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("%+v: timers %s, want %s", p, strings.Join(got, " "), c.want)
		}
	}
}
