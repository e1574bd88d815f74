package cli

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/sidecar/pb"
	"github.com/azdurable/azdurable/internal/syncbuf"
	"github.com/azdurable/azdurable/samples"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// startSidecar runs "azdurable sidecar" in the background with the samples
// registered and returns a client of it; the sidecar stops, and its exit
// status is checked, when the test ends.
func startSidecar(t *testing.T, args ...string) (pb.TaskHubSidecarServiceClient, *syncbuf.Buffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	prev := sidecarContext
	sidecarContext = func(parent context.Context) (context.Context, context.CancelFunc) {
		c, stop := context.WithCancel(parent)
		go func() { <-ctx.Done(); stop() }()
		return c, stop
	}
	stdout, stderr := &syncbuf.Buffer{}, &syncbuf.Buffer{}
	done := make(chan int, 1)
	go func() {
		done <- Run(append([]string{"sidecar", "--listen", "127.0.0.1:0"}, args...), strings.NewReader(""), stdout, stderr,
			WithRegistrations(samples.All(nil)...))
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("sidecar exited with %d: %s", code, stderr)
		}
		sidecarContext = prev
	})
	var addr string
	listening := regexp.MustCompile(`listening on (127\.0\.0\.1:\d+)\n`)
	azuritetest.WaitFor(t, 30*time.Second, "the sidecar to listen", func() (bool, error) {
		select {
		case code := <-done:
			done <- code
			t.Fatalf("sidecar exited with %d: %s", code, stderr)
		default:
		}
		if m := listening.FindStringSubmatch(stdout.String()); m != nil {
			addr = m[1]
		}
		return addr != "", nil
	})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return pb.NewTaskHubSidecarServiceClient(conn), stderr
}

func TestSidecarInMemoryWithWorker(t *testing.T) {
	c, stderr := startSidecar(t, "--memory", "--worker", "--task-hub", "SidecarCLI")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := c.StartInstance(ctx, &pb.CreateInstanceRequest{Name: "HelloCities", InstanceId: "cli-1"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.WaitForInstanceCompletion(ctx, &pb.GetInstanceRequest{InstanceId: res.GetInstanceId(), GetInputsAndOutputs: true})
	if err != nil || st.GetOrchestrationState().GetOutput().GetValue() != `["Hello Tokyo!","Hello Seattle!","Hello London!"]` {
		t.Errorf("HelloCities through the sidecar: %v, %v", st, err)
	}
	if strings.Contains(stderr.String(), "nothing will run") {
		t.Errorf("warned although a worker runs: %s", stderr)
	}
}

func TestSidecarOnAzurite(t *testing.T) {
	hub := azuritetest.NewHub(t)
	c, _ := startSidecar(t, "--task-hub", hub, "--connection-string", azuritetest.ConnectionString(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// No worker: the instance stays Pending, and C#'s status reads it.
	if _, err := c.StartInstance(ctx, &pb.CreateInstanceRequest{Name: "HelloCities", InstanceId: "cli-2", Input: wrapperspb.String(`"x"`)}); err != nil {
		t.Fatal(err)
	}
	st, err := c.GetInstance(ctx, &pb.GetInstanceRequest{InstanceId: "cli-2", GetInputsAndOutputs: true})
	if err != nil || st.GetOrchestrationState().GetOrchestrationStatus() != pb.OrchestrationStatus_ORCHESTRATION_STATUS_PENDING ||
		st.GetOrchestrationState().GetInput().GetValue() != `"x"` {
		t.Errorf("GetInstance: %v, %v", st, err)
	}
	code, out, errOut := run(t, "", "instances", "show", "cli-2", "--task-hub", hub, "--connection-string", azuritetest.ConnectionString(t))
	if code != 0 || !strings.Contains(out, "Pending") {
		t.Errorf("instances show: %d %s %s", code, out, errOut)
	}
}

func TestSidecarUsage(t *testing.T) {
	for _, args := range [][]string{
		{"sidecar", "--memory", "--connection-string", "UseDevelopmentStorage=true", "--task-hub", "H"},
		{"sidecar", "--memory"},
		{"sidecar", "--memory", "--task-hub", "H", "extra"},
		{"sidecar", "--memory", "--task-hub", "H", "--max-activities-per-worker", "0"},
		{"sidecar", "--memory", "--task-hub", "H", "--message-visibility", "1s"},
	} {
		if code, _, errOut := run(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d, %s", args, code, errOut)
		}
	}
}

// Without --worker, an SDK worker gets the work items of the instances
// started through the sidecar (here on a hub in memory).
func TestSidecarServesSDKWorkers(t *testing.T) {
	c, _ := startSidecar(t, "--memory", "--task-hub", "SidecarSDK")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stream, err := c.GetWorkItems(ctx, &pb.GetWorkItemsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.StartInstance(ctx, &pb.CreateInstanceRequest{Name: "FromSDK", InstanceId: "cli-sdk"}); err != nil {
		t.Fatal(err)
	}
	for {
		wi, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if r := wi.GetOrchestratorRequest(); r != nil {
			if r.GetInstanceId() != "cli-sdk" || wi.GetCompletionToken() == "" {
				t.Errorf("work item %v", wi)
			}
			break
		}
	}
	cancel()
}
