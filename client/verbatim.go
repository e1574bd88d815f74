package client

import "github.com/azdurable/azdurable/history"

// Verbatim is a payload given as the exact text to store: ScheduleNew (as
// the input) and RaiseEvent (as the payload) store Text as it is, without
// encoding or checking it, and a nil Text stores no payload at all (null,
// as C# stores a missing input). It is for text that another serializer
// wrote, such as a Durable Task SDK's, which must read it back unchanged;
// use RawJSON when the text must be JSON.
type Verbatim struct {
	Text *string
}

// WithTraceContext starts the instance under a W3C trace context, as
// WithTraceParent does, keeping the vendor-specific tracestate too ("" for
// none).
func WithTraceContext(traceParent, traceState string) StartOption {
	return func(o *startOptions) {
		tc := &history.DistributedTraceContext{TraceParent: traceParent}
		if traceState != "" {
			tc.TraceState = &traceState
		}
		o.trace = tc
	}
}
