package worker_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/worker"
)

type recorder struct {
	mu         sync.Mutex
	episodes   map[string]int
	activities map[string]int
	failed     int
}

func (r *recorder) EpisodeDone(name string, d time.Duration, committed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d >= 0 {
		r.episodes[name]++ // committed or not: every name that reached the observer
	}
	_ = committed
}

func (r *recorder) ActivityDone(name string, d time.Duration, failed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.activities[name]++
	if failed {
		r.failed++
	}
}

func (r *recorder) counts() (map[string]int, map[string]int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, a := map[string]int{}, map[string]int{}
	for k, v := range r.episodes {
		e[k] = v
	}
	for k, v := range r.activities {
		a[k] = v
	}
	return e, a, r.failed
}

var observedFails = durable.NewActivity("ObservedFails", func(_ context.Context, _ string) (string, error) {
	return "", errors.New("no")
})

var observed = durable.NewOrchestration("Observed", func(ctx durable.Context, in string) (string, error) {
	_, _ = observedFails.Call(ctx, in).Await(ctx)
	return durable.CallActivity[string](ctx, "NoSuchActivity", in).Await(ctx)
})

// The observer hears of episodes and activities, by registered name only:
// an unknown orchestration or activity never reaches it.
func TestObserverSeesRegisteredNamesOnly(t *testing.T) {
	r := &recorder{episodes: map[string]int{}, activities: map[string]int{}}
	f := run(t, worker.Options{Observer: r}, observed, observedFails)
	ctx := f.ctx(t)
	if _, err := f.c.ScheduleNew(ctx, "Observed", "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.ScheduleNew(ctx, "Missing", "x"); err != nil {
		t.Fatal(err)
	}
	until(t, "the unknown names to be given back", func() bool { return f.w.Stats().UnknownNames.Load() >= 2 })
	until(t, "two episodes and the failed activity", func() bool {
		e, a, failed := r.counts()
		return e["Observed"] >= 2 && a["ObservedFails"] == 1 && failed == 1
	})
	e, a, _ := r.counts()
	if len(e) != 1 || len(a) != 1 {
		t.Errorf("episodes %v activities %v", e, a)
	}
}
