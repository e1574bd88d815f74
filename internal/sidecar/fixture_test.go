package sidecar_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/sidecar"
	"github.com/azdurable/azdurable/internal/sidecar/pb"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/provider/memory"
	"github.com/azdurable/azdurable/samples/counter"
	"github.com/azdurable/azdurable/samples/hellocities"
	"github.com/azdurable/azdurable/worker"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestMain(m *testing.M) { azuritetest.Main(m) }

// The orchestrations the tests run in a Go worker beside the sidecar.
var (
	// waiter returns the payload of its "go" event.
	waiter = durable.NewOrchestration("Waiter", func(ctx durable.Context, _ string) (string, error) {
		return durable.WaitForEvent[string](ctx, "go").Await(ctx)
	})
	boom = durable.NewActivity("Boom", func(_ context.Context, what string) (string, error) {
		return "", errors.New("boom: " + what)
	})
	// failing fails with Boom's error.
	failing = durable.NewOrchestration("Failing", func(ctx durable.Context, in string) (string, error) {
		return boom.Call(ctx, in).Await(ctx)
	})
	// flaky fails on its first call for each input and succeeds after.
	flaky = durable.NewActivity("Flaky", func(_ context.Context, key string) (string, error) {
		calls, _ := flakyCalls.LoadOrStore(key, new(atomic.Int64))
		if calls.(*atomic.Int64).Add(1) == 1 {
			return "", errors.New("first call of " + key + " fails")
		}
		return "ok " + key, nil
	})
	// rewindable fails once, then completes after a rewind.
	rewindable = durable.NewOrchestration("Rewindable", func(ctx durable.Context, key string) (string, error) {
		return flaky.Call(ctx, key).Await(ctx)
	})
	// parent waits for a waiter child named "<its id>-child".
	parent = durable.NewOrchestration("Parent", func(ctx durable.Context, _ string) (string, error) {
		return waiter.CallSub(ctx, "", durable.WithInstanceID(ctx.InstanceID()+"-child")).Await(ctx)
	})
)

// flakyCalls counts the calls of Flaky per input.
var flakyCalls sync.Map

func registrations() []durable.Registrable {
	return append(hellocities.Registrations(), waiter, boom, failing, flaky, rewindable, parent, counter.Counter)
}

// fixture is a sidecar and a Go worker on one backend, and a gRPC client
// of the sidecar.
type fixture struct {
	t      *testing.T
	hub    string
	be     provider.Backend
	srv    *sidecar.Server
	conn   *grpc.ClientConn
	client pb.TaskHubSidecarServiceClient
	// addr is the sidecar's address.
	addr string
}

func testLogger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("AZDURABLE_SIDECAR_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// memoryBackend is the in-memory backend on the wall clock.
func memoryBackend(t *testing.T) (provider.Backend, string) {
	return memory.New(memory.Options{TaskHub: "SidecarTest", Logger: testLogger()}), "SidecarTest"
}

// azuriteBackend is a fresh hub on the harness's Azurite.
func azuriteBackend(t *testing.T) (provider.Backend, string) {
	hub := azuritetest.NewHub(t)
	be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: azuritetest.Account(t),
		MaxPollingInterval: time.Second, Logger: testLogger(),
		// The app lease outlives a stopped worker (C# leaves it to expire),
		// which would keep the test hub from being deleted.
		DisableAppLease: true})
	if err != nil {
		t.Fatal(err)
	}
	return be, hub
}

func newFixture(t *testing.T, be provider.Backend, hub string, withWorker bool, configure ...func(*sidecar.Options)) *fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if err := be.CreateTaskHub(ctx); err != nil {
		t.Fatal(err)
	}
	var workerDone chan error
	if withWorker {
		w := worker.New(be, worker.Options{Logger: testLogger(), ShutdownTimeout: 10 * time.Second})
		if err := w.Register(registrations()...); err != nil {
			t.Fatal(err)
		}
		workerDone = make(chan error, 1)
		go func() { workerDone <- w.Run(ctx) }()
	}
	o := sidecar.Options{Backend: be, TaskHub: hub, Logger: testLogger(),
		PollMin: 20 * time.Millisecond, PollMax: 250 * time.Millisecond, GoWorker: withWorker}
	for _, c := range configure {
		c(&o)
	}
	srv, err := sidecar.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if workerDone != nil {
			if err := <-workerDone; err != nil {
				t.Errorf("worker: %v", err)
			}
		}
	})
	return &fixture{t: t, hub: hub, be: be, srv: srv, conn: conn, client: pb.NewTaskHubSidecarServiceClient(conn), addr: ln.Addr().String()}
}

// stepTimeout bounds one call of a test: generous, for a loaded machine.
const stepTimeout = 2 * time.Minute

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	t.Cleanup(cancel)
	return ctx
}

func (f *fixture) start(t *testing.T, req *pb.CreateInstanceRequest) string {
	t.Helper()
	res, err := f.client.StartInstance(ctxFor(t), req)
	if err != nil {
		t.Fatalf("StartInstance %s: %v", req.GetName(), err)
	}
	return res.GetInstanceId()
}

func (f *fixture) complete(t *testing.T, id string) *pb.OrchestrationState {
	t.Helper()
	res, err := f.client.WaitForInstanceCompletion(ctxFor(t), &pb.GetInstanceRequest{InstanceId: id, GetInputsAndOutputs: true})
	if err != nil {
		t.Fatalf("WaitForInstanceCompletion %s: %v", id, err)
	}
	if !res.GetExists() {
		t.Fatalf("WaitForInstanceCompletion %s: exists=false", id)
	}
	return res.GetOrchestrationState()
}

func (f *fixture) get(t *testing.T, id string, payloads bool) *pb.GetInstanceResponse {
	t.Helper()
	res, err := f.client.GetInstance(ctxFor(t), &pb.GetInstanceRequest{InstanceId: id, GetInputsAndOutputs: payloads})
	if err != nil {
		t.Fatalf("GetInstance %s: %v", id, err)
	}
	return res
}

// waitStatus polls GetInstance until the instance has the status.
func (f *fixture) waitStatus(t *testing.T, id string, want pb.OrchestrationStatus) *pb.OrchestrationState {
	t.Helper()
	var res *pb.GetInstanceResponse
	azuritetest.WaitFor(t, stepTimeout, fmt.Sprintf("%s to reach %s", id, want), func() (bool, error) {
		res = f.get(t, id, true)
		return res.GetExists() && res.GetOrchestrationState().GetOrchestrationStatus() == want, nil
	})
	return res.GetOrchestrationState()
}

func str(s string) *wrapperspb.StringValue { return wrapperspb.String(s) }
