// Package ctxsleep waits for a duration or the end of a context, whichever
// comes first: the pause of pollers and retry loops that must stop as soon
// as they are cancelled.
package ctxsleep

import (
	"context"
	"time"
)

// Sleep waits d or until ctx ends; it reports whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
