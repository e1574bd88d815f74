package provider

import "time"

// Clock tells the time. The worker, the client and the in-memory backend
// all read time through one, so that tests can give them a virtual clock
// (memory.ManualClock) and move it; nil means the wall clock.
//
// It lives here, in the contract every runtime package already imports, so
// that there is one clock interface for all of them rather than one each.
type Clock interface{ Now() time.Time }

// WallClock is the real clock, in UTC.
type WallClock struct{}

// Now returns the current wall-clock time in UTC.
func (WallClock) Now() time.Time { return time.Now().UTC() }

// ClockOrWall returns c, or the wall clock when c is nil.
func ClockOrWall(c Clock) Clock {
	if c == nil {
		return WallClock{}
	}
	return c
}
