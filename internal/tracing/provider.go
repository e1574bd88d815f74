package tracing

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// idGenerator is the SDK's random generator, except for a span started
// with a context that names the span's id in advance (withSpanID).
type idGenerator struct{}

func (idGenerator) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if id, ok := ctx.Value(forcedKey{}).(trace.SpanID); ok && id.IsValid() {
		return newTraceID(), id
	}
	return newTraceID(), newSpanID()
}

func (idGenerator) NewSpanID(ctx context.Context, _ trace.TraceID) trace.SpanID {
	if id, ok := ctx.Value(forcedKey{}).(trace.SpanID); ok && id.IsValid() {
		return id
	}
	return newSpanID()
}

// NewProvider is sdktrace.NewTracerProvider with this package's
// IDGenerator, which the spans whose id history fixes need.
func NewProvider(opts ...sdktrace.TracerProviderOption) *sdktrace.TracerProvider {
	return sdktrace.NewTracerProvider(append(opts, sdktrace.WithIDGenerator(idGenerator{}))...)
}

// FromEnv reports whether the standard OTEL_* variables ask for traces:
// an OTLP endpoint is set, OTEL_TRACES_EXPORTER is unset or "otlp", and
// OTEL_SDK_DISABLED is not "true".
func FromEnv() bool {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	if e := os.Getenv("OTEL_TRACES_EXPORTER"); e != "" && e != "otlp" {
		return false
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// SetupFromEnv installs an OTLP exporter configured by the standard OTEL_*
// variables (endpoint, headers, protocol "grpc" or "http/protobuf", the
// default; service name and resource attributes; sampler; batching), and
// returns the function that flushes and stops it. Without an endpoint it
// installs nothing: tracing stays off and costs nothing.
func SetupFromEnv(ctx context.Context) (shutdown func(context.Context) error, err error) {
	noop := func(context.Context) error { return nil }
	if !FromEnv() {
		return noop, nil
	}
	proto := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if proto == "" {
		proto = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	var exp *otlptrace.Exporter
	switch proto {
	case "", "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	default:
		return noop, fmt.Errorf("tracing: OTEL_EXPORTER_OTLP_PROTOCOL %q is not supported (grpc or http/protobuf)", proto)
	}
	if err != nil {
		return noop, fmt.Errorf("tracing: the OTLP exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.Environment())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) && !errors.Is(err, resource.ErrSchemaURLConflict) {
		return noop, fmt.Errorf("tracing: the resource: %w", err)
	}
	tp := NewProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	Set(tp)
	return func(ctx context.Context) error {
		Set(nil)
		return tp.Shutdown(ctx)
	}, nil
}
