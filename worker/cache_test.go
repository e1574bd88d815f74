package worker

import (
	"context"
	"testing"
)

// TestCacheTakeWaitsForTheHolder: while one goroutine holds an instance
// (between take and release), a second take of it waits and then gets the
// entry the holder put back; other instances are not held up, and a take
// whose context ends gives up without holding anything.
func TestCacheTakeWaitsForTheHolder(t *testing.T) {
	c := newCache(CacheOptions{MaxInstances: 10})
	ctx := context.Background()
	if e, release := c.take(ctx, "a"); e != nil {
		t.Fatal("entry in an empty cache")
	} else {
		defer release()
		got := make(chan *cacheEntry)
		go func() {
			e, r := c.take(ctx, "a")
			defer r()
			got <- e
		}()
		other, r := c.take(ctx, "b")
		if other != nil {
			t.Fatal("entry for b")
		}
		r()
		gone, cancel := context.WithCancel(ctx)
		cancel()
		if e, r := c.take(gone, "a"); e != nil {
			t.Fatal("a canceled take returned an entry")
		} else {
			r()
		}
		select {
		case <-got:
			t.Fatal("a second take of a held instance did not wait")
		default:
		}
		put := &cacheEntry{instanceID: "a", etag: "1"}
		c.put(put)
		release()
		if e := <-got; e != put {
			t.Fatalf("the waiting take got %+v, want the entry put back by the holder", e)
		}
	}
	if e, r := c.take(ctx, "a"); e != nil {
		t.Fatal("the entry was handed out twice")
	} else {
		r()
		r() // release is idempotent
	}
}
