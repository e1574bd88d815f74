package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/azdurable/azdurable/internal/tracing"
)

// startTracing exports traces when the standard OTEL_* variables name an
// OTLP endpoint (see the README's "Traces"); otherwise tracing stays off.
// The returned function flushes the spans still buffered, for at most ten
// seconds. A bad configuration is reported and the command runs untraced.
func startTracing(stderr io.Writer) func() {
	shutdown, err := tracing.SetupFromEnv(context.Background())
	if err != nil {
		fmt.Fprintf(stderr, "azdurable: traces are off: %v\n", err)
		return func() {}
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := shutdown(ctx); err != nil {
			fmt.Fprintf(stderr, "azdurable: flushing traces: %v\n", err)
		}
	}
}
