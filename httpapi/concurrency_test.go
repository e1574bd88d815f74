package httpapi_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/history"
)

// concurrently sends n copies of a request at once and returns the
// answers.
func (e *env) concurrently(n int, method, path string) []response {
	var wg sync.WaitGroup
	out := make([]response, n)
	gate := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			out[i] = e.do(method, fmt.Sprintf(path, i), "")
		}()
	}
	close(gate)
	wg.Wait()
	return out
}

// Attack: a double-click, or two operators at once, rewinds one failed
// instance several times at once. The requests run one after the other
// and answer as they would in turn (202, or 412 once the instance is no
// longer Failed), never with an internal error from the rows another
// request rewrote.
func TestConcurrentRewinds(t *testing.T) {
	e := newEnv(t, nil)
	if r := e.do("POST", base+"/orchestrators/IndexRepositories/cr-failed", `"nobody"`, "Content-Type", "application/json"); r.code != 202 {
		t.Fatalf("start: %d %s", r.code, r.body)
	}
	e.waitStatus("cr-failed", client.Failed)
	accepted, reasons := 0, map[string]bool{}
	for i := range 4 {
		reasons[fmt.Sprintf("r%d", i)] = true
	}
	for _, r := range e.concurrently(4, "POST", base+"/instances/cr-failed/rewind?reason=r%d") {
		switch r.code {
		case 202:
			accepted++
		case 412:
			if !strings.HasPrefix(r.body, `"This orchestration has status `) {
				t.Errorf("412 %s", r.body)
			}
		default:
			t.Errorf("rewind: %d %s", r.code, r.body)
		}
	}
	if accepted == 0 {
		t.Fatal("no rewind was accepted")
	}
	// The instance runs again and (its activity failing again) fails
	// again. A rewind accepted while the instance is Pending re-sends the
	// wake-up (the client finishes what looks like a rewind cut short),
	// which the instance ignores; it never wakes more often than that. A
	// wake-up is the GenericEvent carrying a request's reason.
	azuritetestWait(t, "the rewound instance to end", func() bool {
		h, err := e.c.History(e.ctx, "cr-failed", "")
		if err != nil {
			return false
		}
		woken := 0
		for _, ev := range h {
			if g, ok := ev.(*history.GenericEvent); ok && g.Data != nil && reasons[*g.Data] {
				woken++
			}
		}
		st, err := e.c.GetState(e.ctx, "cr-failed")
		if woken > accepted {
			t.Fatalf("%d wake-ups for %d accepted rewinds", woken, accepted)
		}
		return err == nil && st.Status == client.Failed && woken > 0
	})
}
