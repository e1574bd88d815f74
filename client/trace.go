package client

import (
	"fmt"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/tracing"
)

// checkTraceContext refuses a caller's trace context that is not a W3C
// traceparent, before anything is stored: C# workers would drop it, and the
// trace would silently break.
func checkTraceContext(tc *history.DistributedTraceContext) error {
	if tc == nil {
		return nil
	}
	if _, ok := tracing.ParseTraceParent(tc.TraceParent, ""); !ok {
		return fmt.Errorf("%w: traceparent %q is not a W3C trace context (00-<32 hex trace id>-<16 hex span id>-<2 hex flags>)", ErrInvalid, tc.TraceParent)
	}
	return nil
}

// ValidTraceParent reports whether s is a W3C traceparent that
// WithTraceParent accepts.
func ValidTraceParent(s string) bool {
	_, ok := tracing.ParseTraceParent(s, "")
	return ok
}
