package worker

import (
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/replay"
)

// cacheEntry is a parked engine of one running instance, valid for exactly
// the history it last committed.
type cacheEntry struct {
	instanceID  string
	executionID string
	etag        string
	length      int
	engine      *replay.Engine
	start       *history.ExecutionStartedEvent
	lastUsed    time.Time
	elem        *list.Element
}

// cache is an LRU of engines. An entry is taken out while its instance is
// being processed and put back after a successful commit, so eviction never
// touches an engine in use.
type cache struct {
	opts    CacheOptions
	mu      sync.Mutex
	entries map[string]*cacheEntry
	lru     *list.List // front = most recently used
}

func newCache(opts CacheOptions) *cache {
	return &cache{opts: opts, entries: map[string]*cacheEntry{}, lru: list.New()}
}

// take removes and returns the entry of an instance, if any.
func (c *cache) take(instanceID string) *cacheEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[instanceID]
	if !ok {
		return nil
	}
	delete(c.entries, instanceID)
	c.lru.Remove(e.elem)
	return e
}

// put stores an entry, evicting the least recently used beyond the bound.
func (c *cache) put(e *cacheEntry) {
	if c.opts.Disabled {
		e.engine.Evict()
		return
	}
	var evict []*cacheEntry
	c.mu.Lock()
	if old, ok := c.entries[e.instanceID]; ok {
		c.lru.Remove(old.elem)
		evict = append(evict, old)
	}
	e.elem = c.lru.PushFront(e)
	c.entries[e.instanceID] = e
	for c.lru.Len() > c.opts.MaxInstances {
		last := c.lru.Back()
		le := last.Value.(*cacheEntry)
		c.lru.Remove(last)
		delete(c.entries, le.instanceID)
		evict = append(evict, le)
	}
	c.mu.Unlock()
	for _, x := range evict {
		x.engine.Evict()
	}
}

// sweepLoop evicts entries idle for longer than the idle timeout.
func (c *cache) sweepLoop(ctx context.Context, clock Clock) {
	period := c.opts.IdleTimeout / 2
	if period < 100*time.Millisecond {
		period = 100 * time.Millisecond
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.evictIdle(clock.Now().Add(-c.opts.IdleTimeout))
		}
	}
}

func (c *cache) evictIdle(before time.Time) {
	var evict []*cacheEntry
	c.mu.Lock()
	for e := c.lru.Back(); e != nil; {
		ce := e.Value.(*cacheEntry)
		prev := e.Prev()
		if ce.lastUsed.Before(before) {
			c.lru.Remove(e)
			delete(c.entries, ce.instanceID)
			evict = append(evict, ce)
		}
		e = prev
	}
	c.mu.Unlock()
	for _, x := range evict {
		x.engine.Evict()
	}
}

// clear evicts everything.
func (c *cache) clear() {
	c.mu.Lock()
	all := make([]*cacheEntry, 0, len(c.entries))
	for _, e := range c.entries {
		all = append(all, e)
	}
	c.entries = map[string]*cacheEntry{}
	c.lru.Init()
	c.mu.Unlock()
	for _, x := range all {
		x.engine.Evict()
	}
}

// len returns the number of cached instances.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
