package httpapi

import (
	"context"
	"time"
)

// detachedTimeout bounds a state-changing operation that runs on after
// its caller has gone (Detached).
const detachedTimeout = 2 * time.Minute

// Detached returns the context of an operation that writes more than
// once (a start, a restart, a rewind, a purge): the request's values
// without its cancellation, bounded by detachedTimeout. net/http cancels a
// request's context when the caller hangs up; an operation stopped between
// two of its writes would leave the instance half changed (a rewound
// history on a Failed instance, a purge that deleted part of the rows),
// so once an operation has begun it finishes, and only its answer is lost.
// The API's routes and the dashboard's confirmed actions both run on it.
func Detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), detachedTimeout)
}
