package tables

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/storage"
)

// loseAnswer lets the first history transaction through to the service and
// then fails it as if the answer had been lost, after running meanwhile (if
// set) between the applied write and the SDK's retry.
type loseAnswer struct {
	mu        sync.Mutex
	done      bool
	meanwhile func()
}

func (l *loseAnswer) Do(req *policy.Request) (*http.Response, error) {
	l.mu.Lock()
	hit := !l.done && strings.HasSuffix(req.Raw().URL.Path, "/$batch")
	l.done = l.done || hit
	l.mu.Unlock()
	resp, err := req.Next()
	if !hit || err != nil {
		return resp, err
	}
	resp.Body.Close()
	if l.meanwhile != nil {
		l.meanwhile()
	}
	return nil, fmt.Errorf("injected fault after the write: %w", errors.New("connection reset by peer"))
}

// A checkpoint whose answer was lost is retried by the SDK, and the retry
// conflicts with the write it repeats. Append must recognise its own
// checkpoint and succeed, with the sentinel's ETag for the next append;
// otherwise the episode is abandoned although committed, and its messages
// are applied a second time. If another writer checkpointed in between,
// the conflict is real and stays one.
func TestLostAnswerIsOurCheckpoint(t *testing.T) {
	for _, tc := range []struct {
		name     string
		existing bool
		other    bool
	}{{"new history", false, false}, {"existing history", true, false}, {"another writer in between", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			c := testCtx(t)
			const id, exec = "lost-1", "e1"
			etag, start := "", 0
			if tc.existing {
				res, err := e.hist.Append(c, id, exec, 0, someEvents(3, "base"), "")
				if err != nil {
					t.Fatal(err)
				}
				etag, start = res.ETag, 3
			}
			lose := &loseAnswer{}
			if tc.other {
				lose.meanwhile = func() {
					// The other writer loaded the history after our write.
					h, err := e.hist.Load(context.Background(), id, exec)
					if err == nil {
						_, err = e.hist.Append(context.Background(), id, exec, len(h.Events), someEvents(1, "other"), h.ETag)
					}
					if err != nil {
						t.Errorf("the other writer: %v", err)
					}
				}
			}
			svc, err := azuritetest.Account(t).TableService(&storage.ClientOptions{PerRetryPolicies: []policy.Policy{lose},
				Retry: &policy.RetryOptions{RetryDelay: 10 * time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			faulty := NewHistoryStore(svc, e.histName, e.blobs, nil)
			res, err := faulty.Append(c, id, exec, start, someEvents(2, "mine"), etag)
			if !lose.done {
				t.Fatal("no answer was lost: the test proves nothing")
			}
			if tc.other {
				if !errors.Is(err, ErrConflict) {
					t.Fatalf("after another writer's checkpoint: %v, want ErrConflict", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("append with a lost answer: %v", err)
			}
			h, err := e.hist.Load(c, id, exec)
			if err != nil {
				t.Fatal(err)
			}
			if len(h.Events) != start+2 || h.ETag != res.ETag {
				t.Fatalf("%d events, ETag %q; want %d events and the returned ETag %q", len(h.Events), h.ETag, start+2, res.ETag)
			}
			if _, err := e.hist.Append(c, id, exec, start+2, someEvents(1, "next"), res.ETag); err != nil {
				t.Fatalf("the next append with the returned ETag: %v", err)
			}
		})
	}
}
