package cli

import (
	"testing"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/history"
)

// instances start --traceparent stores the caller's trace context in the
// ExecutionStarted; a malformed one is a usage error before anything is
// stored.
func TestStartTraceParent(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	e := newHubEnv(t, true)
	e.fails(2, "--traceparent", "start", "HelloCities", "--id", "tp-bad", "--traceparent", "00-xyz-01")
	e.ok("start", "HelloCities", "--id", "tp-ok", "--input", `"cities"`, "--traceparent", tp)
	e.wait("tp-ok", client.Completed)
	evs, err := e.c.History(e.ctx, "tp-ok", "")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ev := range evs {
		if s, ok := ev.(*history.ExecutionStartedEvent); ok {
			found = s.ParentTraceContext != nil && s.ParentTraceContext.TraceParent == tp
		}
	}
	if !found {
		t.Errorf("the ExecutionStarted does not carry %s", tp)
	}
	if _, err := e.c.GetState(e.ctx, "tp-bad"); err == nil {
		t.Error("a malformed --traceparent started an instance")
	}
}
