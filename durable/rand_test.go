package durable_test

import (
	"testing"
	"time"

	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/payload"
)

// randDraws draws two numbers, waits on a timer (a second episode), then
// draws a third: ctx.Rand is one stream per execution, across calls and
// across episodes.
var randDraws = durable.NewOrchestration("RandDraws", func(ctx durable.Context, _ string) ([]uint64, error) {
	a := ctx.Rand().Uint64()
	b := ctx.Rand().Uint64()
	if err := durable.Sleep(ctx, time.Minute); err != nil {
		return nil, err
	}
	c := ctx.Rand().Uint64()
	return []uint64{a, b, c}, nil
})

func TestRandIsOneStreamPerExecution(t *testing.T) {
	run := func(noCache bool) []uint64 {
		t.Helper()
		s := sim(t, randDraws, "RandDraws")
		s.NoCache = noCache // every episode replays the history on a fresh engine
		s.Start(str(`""`))
		c := s.Run()
		if c == nil || c.Status != history.StatusCompleted || s.Episodes != 2 {
			t.Fatalf("completion %+v after %d episodes", c, s.Episodes)
		}
		var out []uint64
		if err := (payload.JSON{}).Unmarshal(history.Deref(c.Output), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	cached, replayed := run(false), run(true)
	if cached[0] == cached[1] || cached[1] == cached[2] || cached[0] == cached[2] {
		t.Fatalf("draws %v: two calls gave the same number", cached)
	}
	for i := range cached {
		if cached[i] != replayed[i] {
			t.Fatalf("a cached engine drew %v, a replay from history %v", cached, replayed)
		}
	}
}
