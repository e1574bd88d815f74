package httpapi

import (
	"net/http"

	"github.com/azdurable/azdurable/client"
)

// traceOption continues the caller's W3C trace (the traceparent and
// tracestate headers) in the instance a start request creates. A malformed
// traceparent is ignored, as the W3C recommendation says: the instance
// starts a trace of its own.
func traceOption(r *http.Request) []client.StartOption {
	tp := r.Header.Get("traceparent")
	if tp == "" || !client.ValidTraceParent(tp) {
		return nil
	}
	return []client.StartOption{client.WithTraceContext(tp, r.Header.Get("tracestate"))}
}
