package chaos

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
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
	"github.com/azdurable/azdurable/worker"
)

var (
	measure = durable.NewActivity("ChaosMeasure", func(_ context.Context, s string) (int, error) { return len(s), nil })
	echo    = durable.NewActivity("ChaosEcho", func(_ context.Context, s string) (string, error) { return s, nil })
	// carry passes its input through two activities and returns it (up to
	// 1 MiB) or its length.
	carry = durable.NewOrchestration("ChaosCarry", func(ctx durable.Context, s string) (string, error) {
		n, err := measure.Call(ctx, s).Await(ctx)
		if err != nil || n > 1<<20 {
			return strconv.Itoa(n), err
		}
		return echo.Call(ctx, s).Await(ctx)
	})
	longSleep = durable.NewOrchestration("ChaosLongSleep", func(ctx durable.Context, d time.Duration) (string, error) {
		return "woke", durable.Sleep(ctx, d)
	})
)

// TestOversizedInputsAndLongWaits adds to the bad-input cases of package
// azurestorage what a user can send through the public API: inputs and
// outputs beyond the 64 KiB of a table column and the queue's message
// size (100 KiB, and 10 MiB), a durable timer longer than the 7 days an
// Azure queue can delay a message, and a start scheduled more than 7 days
// ahead. Decision: a long timer is split into pieces of at most 3 days
// (durable.NewTimer), so the instance just waits; a start more than 7 days
// ahead is refused by ScheduleNew with an error naming the limit, and
// nothing is written.
func TestOversizedInputsAndLongWaits(t *testing.T) {
	hub := newTestHub(t, 4)
	logs := &syncbuf.Buffer{}
	be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: azuritetest.Account(t), MaxPollingInterval: 300 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(be, worker.Options{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err := w.Register(carry, measure, echo, longSleep); err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	defer func() { stop(); <-done }()
	c := client.New(be, client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	random := func(n int) string {
		b := make([]byte, n*3/4)
		_, _ = rand.Read(b)
		return base64.StdEncoding.EncodeToString(b)
	}
	medium, large := random(100<<10), random(10<<20)
	wants := map[string]string{}
	for name, in := range map[string]string{"medium": medium, "large": large} {
		id := "big-" + name
		if _, err := c.ScheduleNew(ctx, carry.Name(), in, client.WithInstanceID(id)); err != nil {
			t.Fatalf("starting with a %d-byte input: %v", len(in), err)
		}
		want, _ := json.Marshal(in)
		if len(in) > 1<<20 {
			want = []byte(strconv.Quote(strconv.Itoa(len(in))))
		}
		wants[id] = string(want)
	}

	// A timer of 8 days is stored as a first piece of at most 3 days.
	if _, err := c.ScheduleNew(ctx, longSleep.Name(), 8*24*time.Hour, client.WithInstanceID("sleeper")); err != nil {
		t.Fatal(err)
	}
	var timer *history.TimerCreatedEvent
	waitFor(t, "the long timer's first piece", 3*time.Minute, func() bool {
		h, _ := c.History(ctx, "sleeper", "")
		for _, ev := range h {
			if v, ok := ev.(*history.TimerCreatedEvent); ok {
				timer = v
			}
		}
		return timer != nil
	})
	if ahead := time.Until(timer.FireAt); ahead > 3*24*time.Hour+time.Minute || ahead < 3*24*time.Hour-time.Hour {
		t.Errorf("the first timer piece fires in %v, want about 3 days", ahead)
	}
	waitFor(t, "the sleeper to run", 3*time.Minute, func() bool {
		st, err := c.GetState(ctx, "sleeper")
		return err == nil && st.Status == client.Running
	})
	if err := c.Terminate(ctx, "sleeper", "enough"); err != nil {
		t.Fatal(err)
	}

	// A start 8 days ahead is refused and leaves nothing behind; 7 days
	// less a minute is accepted.
	_, err = c.ScheduleNew(ctx, carry.Name(), "x", client.WithInstanceID("too-late"), client.WithStartAt(time.Now().Add(8*24*time.Hour)))
	if err == nil || !strings.Contains(err.Error(), "7 days") {
		t.Errorf("a start 8 days ahead: %v, want an error naming the 7-day limit", err)
	}
	if _, err := c.GetState(ctx, "too-late"); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("the refused start left a row: %v", err)
	}
	if _, err := c.ScheduleNew(ctx, carry.Name(), "x", client.WithInstanceID("late"), client.WithStartAt(time.Now().Add(7*24*time.Hour-time.Minute))); err != nil {
		t.Errorf("a start 7 days less a minute ahead: %v", err)
	} else if err := c.Terminate(ctx, "late", "enough"); err != nil {
		t.Fatal(err)
	}

	for id, want := range wants {
		st, err := c.WaitForCompletion(ctx, id, client.PollInterval(100*time.Millisecond, time.Second))
		if err != nil {
			now, _ := c.GetState(context.Background(), id)
			t.Fatalf("waiting for %s: %v (state %+v); worker log:\n%s", id, err, now, logs.String())
		}
		if st.Status != client.Completed || st.Output == nil || *st.Output != want {
			got := "<nil>"
			if st.Output != nil {
				got = (*st.Output)[:min(len(*st.Output), 80)]
			}
			t.Errorf("%s: %s, output %s…", id, st.Status, got)
		}
	}
	for _, id := range []string{"sleeper", "late"} {
		st, err := c.WaitForCompletion(ctx, id, client.PollInterval(100*time.Millisecond, time.Second))
		if err != nil || st.Status != client.Terminated {
			t.Errorf("%s: %v %v, want Terminated", id, st, err)
		}
	}
	if strings.Contains(logs.String(), "7 days") || strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("the worker logged:\n%s", logs.String())
	}
}
