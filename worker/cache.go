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
	traced      []history.Event // the scheduling events tracing needs; nil without tracing
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
	// busy holds the instances a goroutine has taken and not released;
	// the channel is closed on release.
	busy map[string]chan struct{}
}

func newCache(opts CacheOptions) *cache {
	return &cache{opts: opts, entries: map[string]*cacheEntry{}, lru: list.New(), busy: map[string]chan struct{}{}}
}

// take removes and returns the entry of an instance, if any, and holds the
// instance until release is called. While another goroutine holds it, take
// waits: the backend may hand out the instance's next work item as soon as
// the commit of the previous one succeeds, before that goroutine has put
// the engine back, and taking it then would miss the cache and replay the
// whole history. If ctx ends first, take returns no entry and holds
// nothing.
func (c *cache) take(ctx context.Context, instanceID string) (e *cacheEntry, release func()) {
	c.mu.Lock()
	for {
		ch, held := c.busy[instanceID]
		if !held {
			break
		}
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, func() {}
		}
		c.mu.Lock()
	}
	ch := make(chan struct{})
	c.busy[instanceID] = ch
	if found, ok := c.entries[instanceID]; ok {
		delete(c.entries, instanceID)
		c.lru.Remove(found.elem)
		e = found
	}
	c.mu.Unlock()
	var once sync.Once
	return e, func() {
		once.Do(func() {
			c.mu.Lock()
			if c.busy[instanceID] == ch {
				delete(c.busy, instanceID)
			}
			c.mu.Unlock()
			close(ch)
		})
	}
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
