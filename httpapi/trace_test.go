package httpapi_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/httpapi"
	"github.com/azdurable/azdurable/provider/memory"
	"github.com/azdurable/azdurable/worker"
)

var traced = durable.NewOrchestration("Traced", func(_ durable.Context, s string) (string, error) { return s, nil })

// A start request's traceparent and tracestate headers become the
// instance's trace context; a malformed traceparent is ignored.
func TestStartContinuesTheCallersTrace(t *testing.T) {
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	be := memory.New(memory.Options{})
	c := client.New(be, client.Options{})
	w := worker.New(be, worker.Options{Logger: quiet()})
	if err := w.Register(traced); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	h, err := httpapi.New(httpapi.Options{Client: c, TaskHub: "hub", Orchestrators: httpapi.FromRegistrations(traced), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, tc := range []struct{ id, parent, state, want string }{
		{"t-ok", tp, "congo=t61", tp},
		{"t-bad", "00-zz-b7ad6b7169203331-01", "", ""},
	} {
		req := httptest.NewRequest("POST", "/runtime/webhooks/durabletask/orchestrators/Traced/"+tc.id, strings.NewReader(`"x"`))
		req.RemoteAddr = "127.0.0.1:50000"
		req.Header.Set("traceparent", tc.parent)
		if tc.state != "" {
			req.Header.Set("tracestate", tc.state)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 202 {
			t.Fatalf("%s: %d %s", tc.id, rec.Code, rec.Body)
		}
		if _, err := c.WaitForCompletion(ctx, tc.id, client.PollInterval(5*time.Millisecond, 50*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		evs, err := c.History(ctx, tc.id, "")
		if err != nil {
			t.Fatal(err)
		}
		var got *history.DistributedTraceContext
		for _, ev := range evs {
			if s, ok := ev.(*history.ExecutionStartedEvent); ok {
				got = s.ParentTraceContext
			}
		}
		switch {
		case tc.want == "" && got != nil:
			t.Errorf("%s: a malformed traceparent was kept: %+v", tc.id, got)
		case tc.want != "" && (got == nil || got.TraceParent != tc.want || got.TraceState == nil || *got.TraceState != tc.state):
			t.Errorf("%s: trace context %+v", tc.id, got)
		}
	}
}
