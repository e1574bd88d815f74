package schedule_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/chaos"
	"github.com/azdurable/azdurable/internal/schedule"
	"github.com/azdurable/azdurable/worker"
)

// Concurrent creations of one schedule on Azure Storage, where the status
// row's losing write is ignored: exactly one caller is told it created the
// schedule, and its definition is the one stored.
func TestConcurrentCreateOnAzurite(t *testing.T) {
	hub := azuritetest.NewHub(t)
	c, be, err := chaos.NewClient(azuritetest.ConnectionString(t), hub, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.DeleteTaskHub(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := be.CreateTaskHub(ctx); err != nil {
		t.Fatal(err)
	}
	winners := map[string]string{}
	for round := range 3 {
		name := fmt.Sprint("race-", round)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var won []string
		raced := 0
		for i := range 8 {
			wg.Go(func() {
				in := fmt.Sprint("caller-", i)
				_, err := c.CreateSchedule(ctx, name, client.ScheduleOptions{Cron: "@hourly", Orchestration: "Tock", Input: in})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					won = append(won, in)
				case errors.Is(err, client.ErrScheduleExists):
					if strings.Contains(err.Error(), "at the same time") {
						raced++
					}
				default:
					t.Errorf("caller %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		if len(won) != 1 {
			t.Fatalf("round %d: %d creations succeeded: %v", round, len(won), won)
		}
		info, err := c.GetSchedule(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if info.Input == nil || *info.Input != `"`+won[0]+`"` {
			t.Errorf("round %d: %s won, but the stored input is %v", round, won[0], info.Input)
		}
		t.Logf("round %d: %s won; %d losers passed the status check and lost the row", round, won[0], raced)
		winners[name] = won[0]
	}
	// A worker then runs each schedule once, with the winner's input: the
	// losers' start messages are dropped.
	w := worker.New(be, worker.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ShutdownTimeout: 5 * time.Second})
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	defer func() { stop(); <-done }()
	for name, in := range winners {
		azuritetest.WaitFor(t, 3*time.Minute, name+" active", func() (bool, error) {
			info, err := c.GetSchedule(ctx, name)
			return err == nil && info.Status == client.ScheduleActive, nil
		})
		h, err := c.History(ctx, schedule.InstanceID(name), "")
		if err != nil {
			t.Fatal(err)
		}
		starts := 0
		for _, ev := range h {
			if es, ok := ev.(*history.ExecutionStartedEvent); ok {
				starts++
				if !strings.Contains(history.Deref(es.Input), `\"`+in+`\"`) {
					t.Errorf("%s runs with %s", name, history.Deref(es.Input))
				}
			}
		}
		if starts != 1 {
			t.Errorf("%s has %d ExecutionStarted events", name, starts)
		}
	}
}
