package sidecar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/internal/episode"
	"github.com/azdurable/azdurable/internal/sidecar/pb"
	"github.com/azdurable/azdurable/provider"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

// DefaultMaxMessageSize bounds one message in either direction. SDK clients
// set no limit of their own; this one is far above what a task hub stores
// in one row and keeps a runaway message from exhausting memory.
const DefaultMaxMessageSize = 64 << 20

// DefaultShutdownGrace is how long Serve lets calls in flight finish once
// its context ends, before it closes their connections.
const DefaultShutdownGrace = 10 * time.Second

// The metadata keys in which a caller may name the task hub it means.
// Durable Task Scheduler clients send "taskhub"; the Durable Functions
// extension's own listener reads "durable-taskhub".
var hubKeys = []string{"taskhub", "durable-taskhub"}

// Options configure a Server.
type Options struct {
	// Backend is the task hub's backend (required). The client calls read
	// it and send client messages; while SDK workers are connected the
	// server takes part in the hub's partition ownership (Start) and runs
	// their work items, and it calls Stop when the last one has gone.
	Backend provider.Backend
	// TaskHub is the name of the hub Backend serves (required); calls that
	// name another hub are refused.
	TaskHub string
	// Logger receives one line per failed call, and per call at debug
	// level. Default slog.Default().
	Logger *slog.Logger
	// Clock gives event timestamps (default: the wall clock).
	Clock interface{ Now() time.Time }
	// PollMin and PollMax bound the back-off of the waits' polling
	// (default 200 ms growing to 2 s).
	PollMin, PollMax time.Duration
	// MaxMessageSize bounds a message in either direction (default
	// DefaultMaxMessageSize).
	MaxMessageSize int
	// ShutdownGrace bounds Serve's graceful stop (default
	// DefaultShutdownGrace): the SDK workers' work items in flight get
	// this long to be answered before they are given back.
	ShutdownGrace time.Duration

	// GoWorker says that this process also runs a Go worker on Backend
	// (azdurable sidecar --worker): it owns the hub's partitions, so SDK
	// workers are refused (FailedPrecondition).
	GoWorker bool
	// MaxOrchestrationsPerWorker and MaxActivitiesPerWorker bound the
	// work items in flight at one SDK worker that sets no limit of its
	// own (the JavaScript SDK sets none; default
	// DefaultMaxOrchestrationsPerWorker and DefaultMaxActivitiesPerWorker).
	// A worker's own limits win.
	MaxOrchestrationsPerWorker, MaxActivitiesPerWorker int
	// MaxEntitiesPerWorker bounds the entity batches in flight at one SDK
	// worker that sets no limit of its own (default
	// MaxOrchestrationsPerWorker).
	MaxEntitiesPerWorker int
	// CleanEntityPageSize bounds the entity instances one CleanEntityStorage
	// call reads and acts on (default client.DefaultCleanPageSize, C#'s
	// page); its answer's continuation token resumes after them.
	CleanEntityPageSize int
	// IdleRelease is how long the sidecar keeps the hub's partitions after
	// its last SDK worker disconnected (default 30 s).
	IdleRelease time.Duration
	// DisconnectGrace bounds how long a worker whose stream ended may
	// still answer the work items it holds while its connection stays
	// open (default 30 s, the JavaScript SDK's shutdown timeout).
	DisconnectGrace time.Duration
	// HealthPingInterval is how long a work-item stream may be idle before
	// the sidecar sends a health ping (default 15 s).
	HealthPingInterval time.Duration
	// ActivityRenewInterval is how often the lock of an activity work item
	// in flight is renewed (default 30 s, well within the hub's
	// work-item visibility).
	ActivityRenewInterval time.Duration
	// MaxGenerations bounds the continue-as-new generations one
	// orchestration work item runs (default episode.DefaultMaxGenerations).
	MaxGenerations int
	// HistoryCache is how many instances' histories are kept between work
	// items (default DefaultHistoryCache; negative keeps none).
	HistoryCache int
}

// The default limits of an SDK worker that sets none: the Go worker's
// defaults (and for activities C#'s).
const (
	DefaultMaxOrchestrationsPerWorker = 100
	DefaultMaxActivitiesPerWorker     = 10
)

// Server implements TaskHubSidecarService over a backend. Create it with
// New; it is safe for concurrent use.
type Server struct {
	pb.UnimplementedTaskHubSidecarServiceServer

	opts Options
	be   provider.Backend
	c    *client.Client
	log  *slog.Logger
	d    *dispatcher

	// life ends when the server stops; waits and streams watch it.
	life context.Context
	stop context.CancelFunc
}

// New returns a server for the options.
func New(o Options) (*Server, error) {
	if o.Backend == nil {
		return nil, errors.New("sidecar: no backend")
	}
	if strings.TrimSpace(o.TaskHub) == "" {
		return nil, errors.New("sidecar: no task hub name")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.PollMin <= 0 {
		o.PollMin = 200 * time.Millisecond
	}
	if o.PollMax < o.PollMin {
		o.PollMax = max(2*time.Second, o.PollMin)
	}
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.ShutdownGrace <= 0 {
		o.ShutdownGrace = DefaultShutdownGrace
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.IdleRelease, 30*time.Second)
	def(&o.DisconnectGrace, 30*time.Second)
	def(&o.HealthPingInterval, 15*time.Second)
	def(&o.ActivityRenewInterval, 30*time.Second)
	if o.MaxOrchestrationsPerWorker <= 0 {
		o.MaxOrchestrationsPerWorker = DefaultMaxOrchestrationsPerWorker
	}
	if o.MaxActivitiesPerWorker <= 0 {
		o.MaxActivitiesPerWorker = DefaultMaxActivitiesPerWorker
	}
	if o.MaxEntitiesPerWorker <= 0 {
		o.MaxEntitiesPerWorker = o.MaxOrchestrationsPerWorker
	}
	o.MaxEntitiesPerWorker = min(o.MaxEntitiesPerWorker, maxWorkerLimit)
	o.MaxOrchestrationsPerWorker = min(o.MaxOrchestrationsPerWorker, maxWorkerLimit)
	o.MaxActivitiesPerWorker = min(o.MaxActivitiesPerWorker, maxWorkerLimit)
	if o.MaxGenerations <= 0 {
		o.MaxGenerations = episode.DefaultMaxGenerations
	}
	if o.HistoryCache == 0 {
		o.HistoryCache = DefaultHistoryCache
	}
	life, stop := context.WithCancel(context.Background())
	s := &Server{opts: o, be: o.Backend, c: client.New(o.Backend, client.Options{Clock: o.Clock}),
		log: o.Logger, life: life, stop: stop}
	s.d = newDispatcher(s)
	return s, nil
}

// NewGRPCServer returns a gRPC server with the service registered, the
// server's checks and logging installed, and keepalive settings that let
// clients ping idle connections. extra options are added last.
func (s *Server) NewGRPCServer(extra ...grpc.ServerOption) *grpc.Server {
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(s.opts.MaxMessageSize),
		grpc.MaxSendMsgSize(s.opts.MaxMessageSize),
		grpc.ChainUnaryInterceptor(s.unaryInterceptor),
		grpc.ChainStreamInterceptor(s.streamInterceptor),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: time.Minute, Timeout: 20 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.StatsHandler(connTracker{}),
	}
	g := grpc.NewServer(append(opts, extra...)...)
	pb.RegisterTaskHubSidecarServiceServer(g, s)
	return g
}

// Serve serves the protocol on ln until ctx ends, then ends the waits in
// flight (they answer Unavailable), lets the SDK workers answer the work
// items they hold and the other calls finish for up to
// Options.ShutdownGrace each, gives back what is left, releases the hub's
// partitions and closes the connections. It returns nil after such a
// stop.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	g := s.NewGRPCServer()
	served := make(chan error, 1)
	go func() { served <- g.Serve(ln) }()
	select {
	case err := <-served:
		s.Close()
		return err
	case <-ctx.Done():
	}
	s.Close()
	stopped := make(chan struct{})
	go func() {
		g.GracefulStop()
		close(stopped)
	}()
	t := time.NewTimer(s.opts.ShutdownGrace)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
		g.Stop()
		<-stopped
	}
	if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

// Close ends the waits in flight (they answer Unavailable), stops
// serving work items (those in flight get Options.ShutdownGrace to be
// answered, the rest are given back, the partitions released) and ends
// the work-item streams. Serve calls it when it stops.
func (s *Server) Close() {
	s.stop()
	s.d.shutdown(s.opts.ShutdownGrace)
}

// Hello answers the connection check of SDK workers.
func (s *Server) Hello(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// checkHub refuses a call whose metadata names another task hub.
func (s *Server) checkHub(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, k := range hubKeys {
		for _, v := range md.Get(k) {
			if v = strings.TrimSpace(v); v != "" && !strings.EqualFold(v, s.opts.TaskHub) {
				return status.Errorf(codes.InvalidArgument, "the call names task hub %q (metadata %q), but this sidecar serves task hub %q", v, k, s.opts.TaskHub)
			}
		}
	}
	return nil
}

func (s *Server) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	s.logRequest(ctx, info.FullMethod, req)
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("sidecar: a call panicked", "method", info.FullMethod, "panic", r, "stack", string(debug.Stack()))
			resp, err = nil, status.Errorf(codes.Internal, "the sidecar failed on this call (%v); it is logged", r)
		}
		s.logResult(info.FullMethod, start, err)
	}()
	if err := s.checkHub(ctx); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (s *Server) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("sidecar: a call panicked", "method", info.FullMethod, "panic", r, "stack", string(debug.Stack()))
			err = status.Errorf(codes.Internal, "the sidecar failed on this call (%v); it is logged", r)
		}
		s.logResult(info.FullMethod, start, err)
	}()
	if err := s.checkHub(ss.Context()); err != nil {
		return err
	}
	return handler(srv, &loggedStream{ServerStream: ss, s: s, method: info.FullMethod})
}

// loggedStream logs the request of a server-streaming call.
type loggedStream struct {
	grpc.ServerStream
	s      *Server
	method string
}

func (l *loggedStream) RecvMsg(m any) error {
	err := l.ServerStream.RecvMsg(m)
	if err == nil {
		l.s.logRequest(l.Context(), l.method, m)
	}
	return err
}

// maxLoggedRequest bounds a request's text in the debug log.
const maxLoggedRequest = 4096

func (s *Server) logRequest(ctx context.Context, method string, req any) {
	if !s.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	var attrs []any
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		for k, v := range md {
			if k == "authorization" {
				v = []string{"(not logged)"}
			}
			attrs = append(attrs, slog.String("md."+k, strings.Join(v, ",")))
		}
	}
	if m, ok := req.(proto.Message); ok {
		text, _ := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
		if len(text) > maxLoggedRequest {
			text = append(text[:maxLoggedRequest], "…"...)
		}
		attrs = append(attrs, slog.String("request", string(text)))
	}
	s.log.Debug("sidecar: call "+method, attrs...)
}

func (s *Server) logResult(method string, start time.Time, err error) {
	code := status.Code(err)
	switch code {
	case codes.OK:
		s.log.Debug("sidecar: answered "+method, "elapsed", time.Since(start))
	case codes.Unavailable:
		if status.Convert(err).Message() == msgStopping {
			s.log.Debug("sidecar: ended "+method, "elapsed", time.Since(start), "err", msgStopping)
			return
		}
		s.log.Warn("sidecar: call failed", "method", method, "code", code.String(), "err", status.Convert(err).Message())
	case codes.Internal, codes.Unknown:
		s.log.Warn("sidecar: call failed", "method", method, "code", code.String(), "err", status.Convert(err).Message())
	default:
		s.log.Debug("sidecar: call refused", "method", method, "code", code.String(), "err", status.Convert(err).Message())
	}
}

// waitContext ends when the call's context or the server's life ends.
func (s *Server) waitContext(ctx context.Context) (context.Context, context.CancelFunc) {
	wctx, cancel := context.WithCancel(ctx)
	unhook := context.AfterFunc(s.life, cancel)
	return wctx, func() { unhook(); cancel() }
}

// stopped turns an error of a wait or stream that the server's stop ended
// into Unavailable, so that the SDK retries elsewhere or later.
func (s *Server) stopped(callCtx context.Context, err error) error {
	if err != nil && s.life.Err() != nil && callCtx.Err() == nil {
		return status.Error(codes.Unavailable, "the sidecar is stopping; call again")
	}
	return err
}

// statusf is status.Errorf, for brevity.
func statusf(c codes.Code, format string, args ...any) error {
	return status.Error(c, fmt.Sprintf(format, args...))
}
