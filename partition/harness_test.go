package partition

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/azdurable/azdurable/internal/azuritetest"
)

func TestMain(m *testing.M) { azuritetest.Main(m) }

// testLogger discards logs unless AZDURABLE_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("AZDURABLE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// event is one listener call, stamped on the calling process's clock.
type event struct {
	worker, partition, kind string
	at                      time.Time
}

// timeline collects the listener calls of several managers.
type timeline struct {
	mu     sync.Mutex
	events []event
}

func (tl *timeline) add(worker, partition, kind string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.events = append(tl.events, event{worker, partition, kind, time.Now()})
}

// listener returns a Listener that records under worker's name. Drain
// returns at once: the work in flight is nil.
func (tl *timeline) listener(worker string) Listener {
	return &funcListener{
		acquired: func(p string) { tl.add(worker, p, "acquired") },
		drain:    func(_ context.Context, p string) { tl.add(worker, p, "drain") },
		lost:     func(p string) { tl.add(worker, p, "lost") },
	}
}

type interval struct {
	worker     string
	start, end time.Time // end zero: still dequeuing
	endKind    string
}

// intervals turns the events into dequeuing intervals per partition and
// checks that each worker's calls for a partition alternate between
// "acquired" and a stop ("drain" or "lost").
func (tl *timeline) intervals(t *testing.T) map[string][]interval {
	t.Helper()
	tl.mu.Lock()
	defer tl.mu.Unlock()
	out := map[string][]interval{}
	open := map[[2]string]int{} // (worker, partition) -> index in out[partition]
	for _, e := range tl.events {
		key := [2]string{e.worker, e.partition}
		i, isOpen := open[key]
		switch e.kind {
		case "acquired":
			if isOpen {
				t.Errorf("%s: Acquired(%s) twice without a stop", e.worker, e.partition)
				continue
			}
			open[key] = len(out[e.partition])
			out[e.partition] = append(out[e.partition], interval{worker: e.worker, start: e.at})
		default:
			if !isOpen {
				t.Errorf("%s: %s(%s) without Acquired", e.worker, e.kind, e.partition)
				continue
			}
			out[e.partition][i].end, out[e.partition][i].endKind = e.at, e.kind
			delete(open, key)
		}
	}
	return out
}

// checkNoOverlap asserts that no partition was dequeued by two workers at
// the same instant, according to the merged timeline.
func (tl *timeline) checkNoOverlap(t *testing.T) {
	t.Helper()
	for p, ivs := range tl.intervals(t) {
		sort.Slice(ivs, func(i, j int) bool { return ivs[i].start.Before(ivs[j].start) })
		for i := 1; i < len(ivs); i++ {
			prev, cur := ivs[i-1], ivs[i]
			if prev.end.IsZero() || cur.start.Before(prev.end) {
				t.Errorf("%s dequeued by %s from %v and by %s from %v (first stopped %v)",
					p, prev.worker, prev.start.Format(time.StampMicro), cur.worker, cur.start.Format(time.StampMicro), fmtEnd(prev.end))
			}
		}
	}
}

func fmtEnd(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Format(time.StampMicro)
}

// dequeuing returns the partitions each worker is dequeuing from according
// to the timeline (an Acquired not followed by a stop).
func (tl *timeline) dequeuing(t *testing.T) map[string][]string {
	out := map[string][]string{}
	for p, ivs := range tl.intervals(t) {
		for _, iv := range ivs {
			if iv.end.IsZero() {
				out[iv.worker] = append(out[iv.worker], p)
			}
		}
	}
	for _, ps := range out {
		slices.Sort(ps)
	}
	return out
}

// stopKinds counts how worker's intervals ended.
func (tl *timeline) stopKinds(t *testing.T, worker string) map[string]int {
	out := map[string]int{}
	for _, ivs := range tl.intervals(t) {
		for _, iv := range ivs {
			if iv.worker == worker && !iv.end.IsZero() {
				out[iv.endKind]++
			}
		}
	}
	return out
}

// faults fails every request while on, as if the storage account had
// become unreachable for one worker.
type faults struct{ on atomic.Bool }

func (f *faults) Do(req *policy.Request) (*http.Response, error) {
	if f.on.Load() {
		return nil, errors.New("injected fault: storage unreachable")
	}
	return req.Next()
}

// recorded is one request seen by a recorder.
type recorded struct {
	method, path, ifMatch, ifNoneMatch, leaseID string
	header                                      map[string]string // x-ms-lease-* and x-ms-proposed-lease-id
	body                                        []byte
	status                                      int
}

// recorder keeps every request whose path contains filter.
type recorder struct {
	filter string
	mu     sync.Mutex
	calls  []recorded
}

func (r *recorder) Do(req *policy.Request) (*http.Response, error) {
	raw := req.Raw()
	if !strings.Contains(raw.URL.Path, r.filter) {
		return req.Next()
	}
	c := recorded{method: raw.Method, path: raw.URL.Path, ifMatch: raw.Header.Get("If-Match"),
		ifNoneMatch: raw.Header.Get("If-None-Match"), leaseID: raw.Header.Get("x-ms-lease-id"), header: map[string]string{}}
	for k, v := range raw.Header {
		if k = http.CanonicalHeaderKey(k); strings.HasPrefix(k, "X-Ms-Lease-") || k == "X-Ms-Proposed-Lease-Id" {
			c.header[k] = v[0]
		}
	}
	if b := req.Body(); b != nil {
		c.body, _ = io.ReadAll(b)
		if err := req.RewindBody(); err != nil {
			return nil, err
		}
	}
	resp, err := req.Next()
	if resp != nil {
		c.status = resp.StatusCode
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	return resp, err
}

func (r *recorder) snapshot() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// ownersOf reads which manager reports owning each partition, failing on
// a partition reported by two.
func ownersOf(ms map[string]Manager) (map[string]string, error) {
	owner := map[string]string{}
	for id, m := range ms {
		for _, p := range m.Owned() {
			if o, dup := owner[p]; dup {
				return nil, fmt.Errorf("%s owned by both %s and %s", p, o, id)
			}
			owner[p] = id
		}
	}
	return owner, nil
}

// split returns the sorted sizes of the managers' Owned sets if together
// they cover parts exactly once, else nil.
func split(ms map[string]Manager, parts []string) ([]int, error) {
	owner, err := ownersOf(ms)
	if err != nil {
		return nil, err
	}
	if len(owner) != len(parts) {
		return nil, nil
	}
	var sizes []int
	for _, m := range ms {
		sizes = append(sizes, len(m.Owned()))
	}
	slices.Sort(sizes)
	return sizes, nil
}

func stopWithin(t *testing.T, m Manager, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := m.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
