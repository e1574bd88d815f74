// Package metrics exports what a worker and a task hub are doing as
// OpenTelemetry metrics, served in Prometheus text format at /metrics.
//
// Design. One Metrics value owns an OpenTelemetry MeterProvider whose only
// reader is the OpenTelemetry Prometheus exporter, registered on a private
// Prometheus registry (no process-global state), with every name under the
// azdurable_ namespace. Three sources feed it:
//
//   - the worker, through EpisodeDone and ActivityDone (counters and latency
//     histograms labelled by the orchestration or activity name, but only
//     names of the registered set: any other name is counted as "other", so
//     a hostile message cannot grow the label space);
//   - the storage.CallCounter pipeline policy, read on collection (storage
//     calls by service, resource category and operation: a closed set the
//     counter derives itself);
//   - the hub, read on collection through a HubSource (the admin API's
//     Activity) and kept for CacheFor, so that a storm of scrapes costs at
//     most one read of the hub per CacheFor. Lease moves are the owner
//     changes seen between two such reads.
//
// Instance ids never become labels. The listener (Listen) binds loopback
// unless it is given an explicit address.
package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/storage"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// Namespace prefixes every metric name.
const Namespace = "azdurable"

// DefaultCacheFor is how long a read of the hub serves scrapes.
const DefaultCacheFor = 5 * time.Second

// maxScrapesInFlight bounds concurrent scrapes; more are answered 503.
const maxScrapesInFlight = 8

// hubReadTimeout bounds one read of the hub during a scrape.
const hubReadTimeout = 20 * time.Second

// Other is the label value of names outside the registered set.
const Other = "other"

// HubSource reads the task hub's partitions, queues and quarantined
// messages; (*azurestorage.Backend).Activity is one.
type HubSource func(context.Context) (*azurestorage.HubActivity, error)

// Options configure New. Every field is optional.
type Options struct {
	// Calls is the storage call counter whose policy the backend's clients
	// carry.
	Calls *storage.CallCounter
	// Hub, when set, exports the hub's gauges.
	Hub HubSource
	// CacheFor is how long one read of the hub is reused (default
	// DefaultCacheFor).
	CacheFor time.Duration
	// Orchestrations and Activities are the names that may appear as
	// labels; others are counted under Other.
	Orchestrations []string
	Activities     []string
	// Logger reports failed reads of the hub (default: discard).
	Logger *slog.Logger
	// Now is the clock of the age gauges (default time.Now).
	Now func() time.Time
}

// Metrics is the set of instruments and the handler that serves them.
type Metrics struct {
	opts     Options
	registry *prometheus.Registry
	provider *sdkmetric.MeterProvider
	orchs    map[string]string // lower-case name to registered name
	acts     map[string]string

	episodes, activities                 metric.Int64Counter
	episodeFailures, activityFailures    metric.Int64Counter
	episodeLatency, activityLatency      metric.Float64Histogram
	registration                         metric.Registration
	controlDepth, controlAge             metric.Float64ObservableGauge
	workDepth, workAge, poisoned, owners metric.Float64ObservableGauge
	hubUp                                metric.Float64ObservableGauge
	leaseMoves, storageCalls             metric.Int64ObservableCounter
	storageFailures                      metric.Int64ObservableCounter

	mu       sync.Mutex // guards the hub cache and the lease-move count
	read     time.Time
	snapshot *azurestorage.HubActivity
	lastErr  error
	owner    map[int]string
	moves    int64
}

// New builds the instruments.
func New(o Options) (*Metrics, error) {
	if o.CacheFor <= 0 {
		o.CacheFor = DefaultCacheFor
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m := &Metrics{opts: o, registry: prometheus.NewRegistry(), orchs: set(o.Orchestrations), acts: set(o.Activities),
		owner: map[int]string{}}
	exp, err := otelprom.New(otelprom.WithRegisterer(m.registry), otelprom.WithNamespace(Namespace),
		otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		return nil, err
	}
	m.provider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	meter := m.provider.Meter("github.com/azdurable/azdurable")
	latency := metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	m.episodes, err = meter.Int64Counter("episodes", metric.WithDescription("Orchestration episodes committed by this worker."))
	add(err)
	m.episodeFailures, err = meter.Int64Counter("episode_failures", metric.WithDescription("Orchestration episodes that did not commit (abandoned, retried or quarantined)."))
	add(err)
	m.activities, err = meter.Int64Counter("activities", metric.WithDescription("Activities whose result this worker reported."))
	add(err)
	m.activityFailures, err = meter.Int64Counter("activity_failures", metric.WithDescription("Activities that returned an error or panicked."))
	add(err)
	m.episodeLatency, err = meter.Float64Histogram("episode_duration", metric.WithUnit("s"), latency,
		metric.WithDescription("Time from taking an orchestration work item to the end of its episode."))
	add(err)
	m.activityLatency, err = meter.Float64Histogram("activity_duration", metric.WithUnit("s"), latency,
		metric.WithDescription("Time from taking an activity work item to reporting its result."))
	add(err)
	m.storageCalls, err = meter.Int64ObservableCounter("storage_calls", metric.WithDescription("Storage requests (attempts, retries included) by service, task-hub resource category and operation."))
	add(err)
	m.storageFailures, err = meter.Int64ObservableCounter("storage_call_failures", metric.WithDescription("Storage requests that failed or were answered with a status of 400 or more."))
	add(err)
	instruments := []metric.Observable{m.storageCalls, m.storageFailures}
	if o.Hub != nil {
		m.hubUp, err = meter.Float64ObservableGauge("hub_up", metric.WithDescription("1 when the last read of the task hub succeeded, else 0."))
		add(err)
		m.controlDepth, err = meter.Float64ObservableGauge("control_queue_depth", metric.WithDescription("Approximate message count of each partition's control queue."))
		add(err)
		m.controlAge, err = meter.Float64ObservableGauge("control_queue_oldest_message_age", metric.WithUnit("s"), metric.WithDescription("Age of the first visible message of each partition's control queue (0 when none)."))
		add(err)
		m.workDepth, err = meter.Float64ObservableGauge("workitem_queue_depth", metric.WithDescription("Approximate message count of the work-item queue."))
		add(err)
		m.workAge, err = meter.Float64ObservableGauge("workitem_queue_oldest_message_age", metric.WithUnit("s"), metric.WithDescription("Age of the first visible message of the work-item queue (0 when none)."))
		add(err)
		m.poisoned, err = meter.Float64ObservableGauge("poisoned_messages", metric.WithDescription("Quarantined message records in the <hub>-poison container."))
		add(err)
		m.owners, err = meter.Float64ObservableGauge("partition_owned", metric.WithDescription("1 for each partition that has an owner, 0 for one that has none."))
		add(err)
		m.leaseMoves, err = meter.Int64ObservableCounter("lease_moves", metric.WithDescription("Partition owner changes seen between two reads of the hub."))
		add(err)
		instruments = append(instruments, m.hubUp, m.controlDepth, m.controlAge, m.workDepth, m.workAge, m.poisoned, m.owners, m.leaseMoves)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	m.registration, err = meter.RegisterCallback(m.observe, instruments...)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// set maps the names, in lower case, to themselves: a worker looks names
// up in any case, and each counts under the name it was registered with.
func set(names []string) map[string]string {
	s := make(map[string]string, len(names))
	for _, n := range names {
		s[strings.ToLower(n)] = n
	}
	return s
}

// Close stops the meter provider.
func (m *Metrics) Close() error {
	return m.provider.Shutdown(context.Background())
}

// Handler serves the metrics in Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{MaxRequestsInFlight: maxScrapesInFlight})
}

// EpisodeDone records one orchestration episode of the named orchestration,
// d after its work item was taken; committed says it was committed.
func (m *Metrics) EpisodeDone(name string, d time.Duration, committed bool) {
	attrs := metric.WithAttributes(attribute.String("orchestration", label(m.orchs, name)))
	ctx := context.Background()
	if committed {
		m.episodes.Add(ctx, 1, attrs)
	} else {
		m.episodeFailures.Add(ctx, 1, attrs)
	}
	m.episodeLatency.Record(ctx, d.Seconds(), attrs)
}

// ActivityDone records one activity whose result was reported, d after its
// work item was taken; failed says the activity returned an error.
func (m *Metrics) ActivityDone(name string, d time.Duration, failed bool) {
	attrs := metric.WithAttributes(attribute.String("activity", label(m.acts, name)))
	ctx := context.Background()
	m.activities.Add(ctx, 1, attrs)
	if failed {
		m.activityFailures.Add(ctx, 1, attrs)
	}
	m.activityLatency.Record(ctx, d.Seconds(), attrs)
}

func label(allowed map[string]string, name string) string {
	if n, ok := allowed[strings.ToLower(name)]; ok {
		return n
	}
	return Other
}

// observe reports the storage calls and the hub's gauges.
func (m *Metrics) observe(ctx context.Context, o metric.Observer) error {
	if m.opts.Calls != nil {
		s := m.opts.Calls.Snapshot()
		for k, n := range s.Counts {
			o.ObserveInt64(m.storageCalls, n, callAttrs(k))
		}
		for k, n := range s.Failures {
			o.ObserveInt64(m.storageFailures, n, callAttrs(k))
		}
	}
	if m.opts.Hub == nil {
		return nil
	}
	a, moves, err := m.hub(ctx)
	if err != nil || a == nil {
		o.ObserveFloat64(m.hubUp, 0)
		o.ObserveInt64(m.leaseMoves, moves)
		return nil
	}
	o.ObserveFloat64(m.hubUp, 1)
	o.ObserveInt64(m.leaseMoves, moves)
	now := m.opts.Now()
	for _, p := range a.Partitions {
		attrs := metric.WithAttributes(attribute.String("partition", strconv.Itoa(p.Index)))
		o.ObserveFloat64(m.controlDepth, float64(p.Depth), attrs)
		o.ObserveFloat64(m.controlAge, age(now, p.Oldest), attrs)
		owned := 0.0
		if p.Owner != "" {
			owned = 1
		}
		o.ObserveFloat64(m.owners, owned, attrs)
	}
	o.ObserveFloat64(m.workDepth, float64(a.WorkItemDepth))
	o.ObserveFloat64(m.workAge, age(now, a.WorkItemOldest))
	o.ObserveFloat64(m.poisoned, float64(a.Poisoned))
	return nil
}

func callAttrs(k storage.CallKey) metric.ObserveOption {
	return metric.WithAttributes(attribute.String("service", k.Service), attribute.String("category", k.Category),
		attribute.String("operation", k.Operation))
}

func age(now, t time.Time) float64 {
	if t.IsZero() || t.After(now) {
		return 0
	}
	return now.Sub(t).Seconds()
}

// hub returns the hub's activity, read at most once per CacheFor however
// many scrapes arrive (concurrent scrapes wait for the one read), and the
// lease moves seen so far.
func (m *Metrics) hub(ctx context.Context) (*azurestorage.HubActivity, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.read.IsZero() && m.opts.Now().Sub(m.read) < m.opts.CacheFor {
		return m.snapshot, m.moves, m.lastErr
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), hubReadTimeout)
	defer cancel()
	a, err := m.opts.Hub(rctx)
	m.read, m.lastErr = m.opts.Now(), err
	if err != nil {
		m.opts.Logger.Warn("metrics: reading the task hub failed", "err", err)
		m.snapshot = nil
		return nil, m.moves, err
	}
	for _, p := range a.Partitions {
		if prev, seen := m.owner[p.Index]; seen && prev != "" && p.Owner != "" && prev != p.Owner {
			m.moves++
		}
		if p.Owner != "" {
			m.owner[p.Index] = p.Owner
		}
	}
	m.snapshot = a
	return a, m.moves, nil
}

// Listen opens the metrics listener. An address without a host (":9464")
// listens on loopback only; any other host is taken as given, so exposing
// the metrics beyond this machine takes an explicit address.
func Listen(addr string) (net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.Listen("tcp", net.JoinHostPort(host, port))
}

// Mux serves the handler at /metrics and nothing else, to GET and HEAD
// only. On a loopback listener it also refuses a request whose Host header
// names anything but localhost or a loopback address: a web page whose
// DNS name was rebound to 127.0.0.1 cannot read the metrics.
func Mux(h http.Handler, addr net.Addr) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsLoopback() {
		return mux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			http.Error(w, "this host name is not served here", http.StatusMisdirectedRequest)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// loopbackHost says a Host header names this machine: localhost or a
// loopback address, with or without a port.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
