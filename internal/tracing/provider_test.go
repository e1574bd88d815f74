package tracing_test

import (
	"context"
	"testing"

	"github.com/azdurable/azdurable/internal/tracing"
)

// The OTEL_* variables decide: no endpoint, no tracing; an endpoint with
// either standard protocol, tracing on until shutdown; anything else is an
// error that leaves tracing off.
func TestSetupFromEnv(t *testing.T) {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL",
		"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER"} {
		t.Setenv(k, "")
	}
	tracing.Set(nil)
	ctx := context.Background()
	shutdown, err := tracing.SetupFromEnv(ctx)
	if err != nil || tracing.Enabled() {
		t.Fatalf("without an endpoint: enabled %v, err %v", tracing.Enabled(), err)
	}
	_ = shutdown(ctx)

	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
	for _, proto := range []string{"", "http/protobuf", "grpc"} {
		t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", proto)
		shutdown, err := tracing.SetupFromEnv(ctx)
		if err != nil || !tracing.Enabled() {
			t.Fatalf("protocol %q: enabled %v, err %v", proto, tracing.Enabled(), err)
		}
		_ = shutdown(ctx) // nothing was recorded: nothing to send
		if tracing.Enabled() {
			t.Fatalf("protocol %q: still on after shutdown", proto)
		}
	}
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
	if _, err := tracing.SetupFromEnv(ctx); err == nil || tracing.Enabled() {
		t.Errorf("http/json: enabled %v, err %v", tracing.Enabled(), err)
	}
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "")
	t.Setenv("OTEL_SDK_DISABLED", "true")
	if tracing.FromEnv() {
		t.Error("OTEL_SDK_DISABLED=true does not turn traces off")
	}
	t.Setenv("OTEL_SDK_DISABLED", "")
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	if tracing.FromEnv() {
		t.Error("OTEL_TRACES_EXPORTER=none does not turn traces off")
	}
}

func TestParseTraceParent(t *testing.T) {
	for tp, ok := range map[string]bool{
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01":       true,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00":       true,
		"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later": true,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x":     false,
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01":       false,
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01":       false,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01":       false,
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01":       false,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz":       false,
		"": false,
	} {
		sc, got := tracing.ParseTraceParent(tp, "")
		if got != ok {
			t.Errorf("%q: %v, want %v", tp, got, ok)
		}
		if got && tracing.TraceParent(sc)[3:52] != tp[3:52] {
			t.Errorf("%q formats as %q", tp, tracing.TraceParent(sc))
		}
	}
}
