package sidecar

import (
	"container/list"
	"sync"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/sidecar/pb"
	"github.com/azdurable/azdurable/provider"
)

// historyCache keeps the history of instances this sidecar ran last, in
// both forms (the events, and the protocol's for the next work item), so
// that an episode needs no history read and no conversion of the past:
// SDK workers are sent every past event with every work item. An entry is
// valid only while the backend's history ETag and length are the ones the
// sidecar last committed (as the Go worker's engine cache); the least
// recently used entries go first.
type historyCache struct {
	mu      sync.Mutex
	max     int
	entries map[string]*list.Element
	order   *list.List // front: most recently used
}

type cachedHistory struct {
	instanceID  string
	executionID string
	etag        string
	length      int
	events      []history.Event
	proto       []*pb.HistoryEvent
}

// DefaultHistoryCache is how many instances' histories a sidecar keeps.
const DefaultHistoryCache = 1000

// newHistoryCache keeps up to max instances; max < 0 keeps none.
func newHistoryCache(max int) *historyCache {
	return &historyCache{max: max, entries: map[string]*list.Element{}, order: list.New()}
}

// take removes and returns an instance's entry.
func (c *historyCache) take(instanceID string) *cachedHistory {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[instanceID]
	if !ok {
		return nil
	}
	delete(c.entries, instanceID)
	c.order.Remove(el)
	return el.Value.(*cachedHistory)
}

// put stores an entry, dropping the least recently used beyond max.
func (c *historyCache) put(e *cachedHistory) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[e.instanceID]; ok {
		c.order.Remove(el)
	}
	c.entries[e.instanceID] = c.order.PushFront(e)
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.entries, last.Value.(*cachedHistory).instanceID)
	}
}

// matches reports whether the entry is the history the work item's
// instance has in storage.
func (e *cachedHistory) matches(wi *provider.OrchestrationWorkItem) bool {
	return e != nil && e.executionID == wi.ExecutionID && e.etag == wi.HistoryETag && e.length == wi.HistoryLen && wi.HistoryETag != ""
}
