package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/internal/metrics"
	"github.com/azdurable/azdurable/internal/registry"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/storage"
	"github.com/azdurable/azdurable/worker"
	"github.com/spf13/cobra"
)

// metricsFlags is --metrics-listen, shared by worker and serve, and the
// metrics it serves. It is the worker's Observer, forwarding to the metrics
// once they exist.
type metricsFlags struct {
	listen string
	calls  *storage.CallCounter
	ln     net.Listener
	m      atomic.Pointer[metrics.Metrics]
}

func addMetricsFlags(cmd *cobra.Command) *metricsFlags {
	f := &metricsFlags{}
	cmd.Flags().StringVar(&f.listen, "metrics-listen", "",
		"serve metrics in Prometheus text format at http://ADDR/metrics (an address without a host, :PORT, listens on loopback only)")
	return f
}

// open opens the listener, before anything else starts, so that a bad
// address fails the command at once.
func (f *metricsFlags) open() error {
	if f.listen == "" {
		return nil
	}
	ln, err := metrics.Listen(f.listen)
	if err != nil {
		return usagef("--metrics-listen: %v", err)
	}
	f.ln = ln
	return nil
}

// adjust adds the storage call counter to the backend's clients, after
// next.
func (f *metricsFlags) adjust(next func(*azurestorage.Options)) func(*azurestorage.Options) {
	if f.listen == "" {
		return next
	}
	return func(o *azurestorage.Options) {
		if next != nil {
			next(o)
		}
		f.calls = storage.NewCallCounter(o.Account.Endpoints())
		c := storage.ClientOptions{}
		if o.Client != nil {
			c = *o.Client
		}
		c.PerRetryPolicies = append(slices.Clone(c.PerRetryPolicies), f.calls.Policy())
		o.Client = &c
	}
}

// observer is what the worker reports to: nil without --metrics-listen.
func (f *metricsFlags) observer() worker.Observer {
	if f.listen == "" {
		return nil
	}
	return f
}

// EpisodeDone forwards to the metrics.
func (f *metricsFlags) EpisodeDone(name string, d time.Duration, committed bool) {
	if m := f.m.Load(); m != nil {
		m.EpisodeDone(name, d, committed)
	}
}

// ActivityDone forwards to the metrics.
func (f *metricsFlags) ActivityDone(name string, d time.Duration, failed bool) {
	if m := f.m.Load(); m != nil {
		m.ActivityDone(name, d, failed)
	}
}

// serve builds the metrics of the hub be serves and of the worker hosting
// regs (none for serve without --worker), and serves them on the listener
// open opened. The returned function stops serving.
func (f *metricsFlags) serve(cmd *cobra.Command, be *azurestorage.Backend, regs []durable.Registrable) (func(), error) {
	if f.ln == nil {
		return func() {}, nil
	}
	o := metrics.Options{Calls: f.calls, Hub: be.Activity, Logger: logger(cmd)}
	for _, r := range regs {
		e, err := registry.Describe(r)
		if err != nil {
			continue
		}
		if e.Orchestration != nil {
			o.Orchestrations = append(o.Orchestrations, e.Name)
		} else {
			o.Activities = append(o.Activities, e.Name)
		}
	}
	m, err := metrics.New(o)
	if err != nil {
		f.ln.Close()
		return func() {}, err
	}
	f.m.Store(m)
	srv := &http.Server{Handler: metrics.Mux(m.Handler(), f.ln.Addr()), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(f.ln) }()
	fmt.Fprintf(cmd.ErrOrStderr(), "metrics at http://%s/metrics\n", f.ln.Addr())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = m.Close()
	}, nil
}

// close releases a listener that serve never took over.
func (f *metricsFlags) close() {
	if f.ln != nil && f.m.Load() == nil {
		f.ln.Close()
	}
}
