package azurestorage

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/storage"
)

// TestSendsWakeOtherBackendsOfTheProcess: a message one backend sends (here
// a client's) ends the back-off of another backend's poller of that queue
// in the same process, and not that of a poller of another hub.
func TestSendsWakeOtherBackendsOfTheProcess(t *testing.T) {
	acct := azuritetest.Account(t)
	hub, other := azuritetest.NewHub(t), azuritetest.NewHub(t)
	client, err := New(Options{TaskHub: hub, Account: acct, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	worker, err := New(Options{TaskHub: hub, Account: acct, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := New(Options{TaskHub: other, Account: acct, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.CreateTaskHub(t.Context()); err != nil {
		t.Fatal(err)
	}
	woken := worker.wake.C(worker.control[0].Name())
	unrelated := stranger.wake.C(stranger.control[0].Name())
	if _, err := client.control[0].Send(t.Context(), "{}", 0); err != nil {
		t.Fatal(err)
	}
	select {
	case <-woken:
	default:
		t.Fatal("the worker's poller of the queue was not woken by the client's send")
	}
	select {
	case <-unrelated:
		t.Fatal("a poller of another hub was woken")
	default:
	}
}

// hookPolicy calls f before each request of the pipeline it is in.
type hookPolicy func(*policy.Request)

func (h hookPolicy) Do(req *policy.Request) (*http.Response, error) {
	h(req)
	return req.Next()
}

// TestStartWakesPollersAfterItsRow: a client start wakes this process's
// pollers of its control queue only after its Instances row is written, so
// that a worker here does not receive the start before the row exists.
func TestStartWakesPollersAfterItsRow(t *testing.T) {
	acct := azuritetest.Account(t)
	hub := azuritetest.NewHub(t)
	worker, err := New(Options{TaskHub: hub, Account: acct, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	woken := worker.wake.C(worker.control[0].Name())
	var wokenBeforeInsert, sawInsert atomic.Bool
	client, err := New(Options{TaskHub: hub, Account: acct, Partitions: 1, Client: &storage.ClientOptions{
		PerRetryPolicies: []policy.Policy{hookPolicy(func(req *policy.Request) {
			r := req.Raw()
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "Instances") {
				sawInsert.Store(true)
				select {
				case <-woken:
					wokenBeforeInsert.Store(true)
				default:
				}
			}
		})}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.CreateTaskHub(t.Context()); err != nil {
		t.Fatal(err)
	}
	es := &history.ExecutionStartedEvent{OrchestrationInstance: history.OrchestrationInstance{InstanceID: "woken-late", ExecutionID: "e1"},
		Name: "X", EventBase: history.EventBase{EventID: -1}}
	if err := client.CreateInstance(t.Context(), &history.TaskMessage{Event: es, OrchestrationInstance: es.OrchestrationInstance}, nil); err != nil {
		t.Fatal(err)
	}
	if !sawInsert.Load() || wokenBeforeInsert.Load() {
		t.Fatalf("insert seen %v, pollers woken before it %v; want the wake-up after the row", sawInsert.Load(), wokenBeforeInsert.Load())
	}
	select {
	case <-woken:
	default:
		t.Fatal("the start did not wake the pollers of its queue at all")
	}
}
