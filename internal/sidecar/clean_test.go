package sidecar_test

import (
	"context"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/sidecar"
	"github.com/azdurable/azdurable/internal/sidecar/pb"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/samples/counter"
	"github.com/azdurable/azdurable/worker"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// holdsLock locks Counter@<key> and waits for ever inside its critical
// section.
var holdsLock = durable.NewOrchestration("HoldsLock", func(ctx durable.Context, key string) (string, error) {
	if _, err := durable.LockEntities(ctx, durable.NewEntityID("Counter", key)); err != nil {
		return "", err
	}
	return durable.WaitForEvent[string](ctx, "never").Await(ctx)
})

// hourAhead is a clock an hour ahead, so that entities emptied a moment
// ago are past the sorter's reorder window for a clean.
type hourAhead struct{}

func (hourAhead) Now() time.Time { return time.Now().Add(time.Hour) }

// entityHub fills a new hub on Azurite, run by a Go worker, with seven
// entities for a clean: e1, e2 and e3 empty (deleted), k1 and k2 with
// state, l1 locked by an orchestration that was terminated inside its
// critical section (an orphaned lock), l2 locked by one that runs.
func entityHub(t *testing.T) (provider.Backend, string, *client.Client) {
	be, hub := azuriteBackend(t)
	ctx, cancel := context.WithCancel(context.Background())
	if err := be.CreateTaskHub(ctx); err != nil {
		t.Fatal(err)
	}
	w := worker.New(be, worker.Options{Logger: testLogger(), ShutdownTimeout: 10 * time.Second})
	if err := w.Register(counter.Counter, holdsLock); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	c := client.New(be, client.Options{})
	step := ctxFor(t)
	entity := func(key string) *client.EntityMetadata {
		m, err := c.GetEntity(step, durable.NewEntityID("Counter", key))
		if err != nil {
			return nil
		}
		return m
	}
	for _, key := range []string{"e1", "e2", "e3", "k1", "k2"} {
		if err := c.SignalEntity(step, durable.NewEntityID("Counter", key), "add", 1); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(key, "e") {
			if err := c.DeleteEntity(step, durable.NewEntityID("Counter", key)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, key := range []string{"l1", "l2"} {
		if _, err := c.ScheduleNew(step, "HoldsLock", key, client.WithInstanceID("holder-"+key)); err != nil {
			t.Fatal(err)
		}
	}
	azuritetest.WaitFor(t, 3*time.Minute, "the entities of the clean", func() (bool, error) {
		for _, key := range []string{"e1", "e2", "e3"} {
			if m := entity(key); m == nil || m.Exists || m.QueueSize != 0 || m.LockedBy != "" {
				return false, nil
			}
		}
		for _, key := range []string{"k1", "k2"} {
			if m := entity(key); m == nil || !m.Exists || m.QueueSize != 0 {
				return false, nil
			}
		}
		for _, key := range []string{"l1", "l2"} {
			if m := entity(key); m == nil || m.LockedBy != "holder-"+key {
				return false, nil
			}
		}
		return true, nil
	})
	if err := c.Terminate(step, "holder-l1", "ended inside its critical section"); err != nil {
		t.Fatal(err)
	}
	if st, err := c.WaitForCompletion(step, "holder-l1"); err != nil || st.Status != client.Terminated {
		t.Fatalf("holder-l1: %+v, %v", st, err)
	}
	return be, hub, c
}

// cleanAll calls CleanEntityStorage as the SDKs do, again with each
// answer's continuation token until there is none, and returns the sums
// and the number of calls.
func cleanAll(t *testing.T, f *fixture) (removed, released, calls int) {
	t.Helper()
	req := &pb.CleanEntityStorageRequest{RemoveEmptyEntities: true, ReleaseOrphanedLocks: true}
	for {
		res, err := f.client.CleanEntityStorage(ctxFor(t), req)
		if err != nil {
			t.Fatalf("CleanEntityStorage after %d calls: %v", calls, err)
		}
		calls++
		removed += int(res.GetEmptyEntitiesRemoved())
		released += int(res.GetOrphanedLocksReleased())
		if res.GetContinuationToken() == nil {
			return removed, released, calls
		}
		if calls > 20 {
			t.Fatal("the clean's continuation does not end")
		}
		req.ContinuationToken = res.GetContinuationToken()
	}
}

// entitiesLeft waits until no entity of the hub is locked by the
// terminated holder any more, and returns the keys of the entities left.
func entitiesLeft(t *testing.T, c *client.Client) []string {
	t.Helper()
	var keys []string
	azuritetest.WaitFor(t, 3*time.Minute, "the orphaned lock to be released", func() (bool, error) {
		keys = nil
		for m, err := range c.ListEntities(ctxFor(t), client.EntityQuery{IncludeDeleted: true}) {
			if err != nil {
				return false, err
			}
			if m.LockedBy == "holder-l1" {
				return false, nil
			}
			keys = append(keys, m.ID.Key)
		}
		return true, nil
	})
	return keys
}

// A clean of entity storage goes a page per call: pages of two entities
// give what one call gives (three empty entities removed, the one orphaned
// lock released, the running holder's lock kept), and every call but the
// last answers a continuation token.
func TestCleanEntityStoragePagesAzurite(t *testing.T) {
	beOne, hubOne, cOne := entityHub(t)
	one := newFixture(t, beOne, hubOne, false, func(o *sidecar.Options) { o.Clock = hourAhead{} })
	removed, released, calls := cleanAll(t, one)
	if removed != 3 || released != 1 || calls != 1 {
		t.Errorf("one call: removed %d, released %d in %d calls; want 3, 1 in 1", removed, released, calls)
	}
	leftOne := entitiesLeft(t, cOne)

	bePaged, hubPaged, cPaged := entityHub(t)
	paged := newFixture(t, bePaged, hubPaged, false, func(o *sidecar.Options) { o.Clock = hourAhead{}; o.CleanEntityPageSize = 2 })
	pr, pl, pcalls := cleanAll(t, paged)
	if pr != removed || pl != released || pcalls < 4 {
		t.Errorf("pages of 2: removed %d, released %d in %d calls; want %d, %d in at least 4 (7 entities)", pr, pl, pcalls, removed, released)
	}
	leftPaged := entitiesLeft(t, cPaged)
	if want := []string{"k1", "k2", "l1", "l2"}; !slices.Equal(leftOne, want) || !slices.Equal(leftPaged, want) {
		t.Errorf("entities left: one call %v, pages %v; want %v", leftOne, leftPaged, want)
	}
	if m, err := cPaged.GetEntity(ctxFor(t), durable.NewEntityID("Counter", "l2")); err != nil || m.LockedBy != "holder-l2" {
		t.Errorf("the running holder's lock: %+v, %v", m, err)
	}
	t.Logf("pages of 2: %d calls; one page: %d call", pcalls, calls)

	// A position that a page could have ended at is a token like any
	// other: the clean resumes after it.
	resume := wrapperspb.String(base64.RawURLEncoding.EncodeToString([]byte("clean1:@counter@k2")))
	if _, err := paged.client.CleanEntityStorage(ctxFor(t), &pb.CleanEntityStorageRequest{ContinuationToken: resume}); err != nil {
		t.Errorf("resuming after @counter@k2: %v", err)
	}

	// Tokens that no answer gave are refused before anything is read.
	q, err := paged.client.QueryEntities(ctxFor(t), &pb.QueryEntitiesRequest{Query: &pb.EntityQuery{PageSize: wrapperspb.Int32(1), IncludeTransient: true}})
	if err != nil || q.GetContinuationToken() == nil {
		t.Fatalf("a query's token: %v, %v", q, err)
	}
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for name, token := range map[string]string{
		"not base64url":        "junk!",
		"a query's token":      q.GetContinuationToken().GetValue(),
		"no prefix":            b64("@counter@k1"),
		"another prefix":       b64("after:@counter@k1"),
		"empty position":       b64("clean1:"),
		"outside the entities": b64("clean1:holder-l1"),
		"not UTF-8":            b64("clean1:@counter@\xff"),
		"too long":             strings.Repeat("A", 10000),
		"padded base64":        base64.URLEncoding.EncodeToString([]byte("clean1:@counter@k")),
	} {
		_, err := paged.client.CleanEntityStorage(ctxFor(t), &pb.CleanEntityStorageRequest{RemoveEmptyEntities: true,
			ReleaseOrphanedLocks: true, ContinuationToken: wrapperspb.String(token)})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s token %.40q: %v, want InvalidArgument", name, token, err)
		}
	}
}
