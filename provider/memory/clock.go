package memory

import (
	"sync"
	"time"

	"github.com/azdurable/azdurable/provider"
)

// Clock tells the backend's time. Visibility, locks and status-row times
// are all measured with it. It is provider.Clock, the one clock interface
// of the worker, the client and this backend.
type Clock = provider.Clock

// settableClock is a clock that AutoAdvance can move.
type settableClock interface {
	Clock
	Set(t time.Time)
}

// watchableClock is a clock that reports its own moves, so that the backend
// can dispatch without real timers.
type watchableClock interface {
	Clock
	Watch(fn func()) (stop func())
}

// ManualClock is a virtual clock that moves only when told to. It is safe
// for concurrent use. Backends built on it are woken whenever it moves.
type ManualClock struct {
	mu       sync.Mutex
	now      time.Time
	nextID   int
	watchers map[int]func()
}

// NewManualClock returns a clock that reads start (in UTC) until moved.
func NewManualClock(start time.Time) *ManualClock {
	return &ManualClock{now: start.UTC(), watchers: map[int]func(){}}
}

// Now returns the clock's current time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d (a negative d moves it back) and
// returns the new time.
func (c *ManualClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	c.now = c.now.Add(d)
	t := c.now
	c.mu.Unlock()
	c.notify()
	return t
}

// Set moves the clock to t. Moving it backwards is allowed; messages that
// were already handed out stay handed out.
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t.UTC()
	c.mu.Unlock()
	c.notify()
}

// Watch registers fn to be called after every move of the clock, outside
// the clock's lock. fn must not block. The returned function unregisters it.
func (c *ManualClock) Watch(fn func()) (stop func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := c.nextID
	c.nextID++
	c.watchers[id] = fn
	return func() {
		c.mu.Lock()
		delete(c.watchers, id)
		c.mu.Unlock()
	}
}

func (c *ManualClock) notify() {
	c.mu.Lock()
	fns := make([]func(), 0, len(c.watchers))
	for _, fn := range c.watchers {
		fns = append(fns, fn)
	}
	c.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}
