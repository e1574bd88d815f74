package queues

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/azdurable/azdurable/blobs"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/taskhub"
	"github.com/azdurable/azdurable/storage"
)

func TestMain(m *testing.M) { azuritetest.Main(m) }

// countingPolicy counts the requests a pipeline sends, so tests can prove
// that a refused call sent nothing.
type countingPolicy struct{ n atomic.Int64 }

func (p *countingPolicy) Do(req *policy.Request) (*http.Response, error) {
	p.n.Add(1)
	return req.Next()
}

// hubEnv is a fresh task hub on the shared Azurite with its queue service,
// blob store and a request counter on the queue pipeline.
type hubEnv struct {
	names    taskhub.Names
	svc      *azqueue.ServiceClient
	requests *countingPolicy
	store    *blobs.Store
	wake     *Wakeups
}

func newHubEnv(t *testing.T) *hubEnv {
	t.Helper()
	acct := azuritetest.Account(t)
	names := taskhub.MustNames(azuritetest.NewHub(t))
	counter := &countingPolicy{}
	svc, err := acct.QueueService(&storage.ClientOptions{PerCallPolicies: []policy.Policy{counter}})
	if err != nil {
		t.Fatal(err)
	}
	bsvc, err := acct.BlobService(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &hubEnv{
		names:    names,
		svc:      svc,
		requests: counter,
		store:    blobs.New(bsvc, names.LargeMessagesContainer(), nil),
		wake:     NewWakeups(),
	}
}

// queue returns a created queue of the hub (the work-item queue unless a
// control queue index is given).
func (h *hubEnv) queue(t *testing.T, control ...int) *Queue {
	t.Helper()
	name := h.names.WorkItemQueue()
	if len(control) > 0 {
		name = h.names.ControlQueue(control[0])
	}
	q := NewQueue(h.svc, name, &QueueOptions{Wakeups: h.wake})
	if err := q.Create(t.Context()); err != nil {
		t.Fatal(err)
	}
	return q
}

// receiveWithin polls q until it returns at least one message or timeout
// passes (then the test fails).
func receiveWithin(t *testing.T, q *Queue, timeout, visibility time.Duration, what string) []*Message {
	t.Helper()
	var got []*Message
	azuritetest.WaitFor(t, timeout, what, func() (bool, error) {
		msgs, err := q.Receive(t.Context(), MaxBatch, visibility)
		got = msgs
		return len(msgs) > 0, err
	})
	return got
}

// mustBeHidden checks that no message is visible before until (a hidden
// message's NextVisible as the service reported it). A peek whose answer
// comes at until or later proves nothing (a busy machine can take that
// long between two calls), so it is logged, not failed.
func mustBeHidden(t *testing.T, q *Queue, until time.Time, why string) {
	t.Helper()
	msgs, err := q.Peek(t.Context(), MaxBatch)
	if err != nil {
		t.Fatal(err)
	}
	if answered := time.Now(); !answered.Before(until) {
		t.Logf("%s: the peek was answered at %v, after the message became visible at %v; nothing to check", why, answered, until)
		return
	}
	if len(msgs) != 0 {
		t.Fatalf("%s: %d messages visible, want none before %v", why, len(msgs), until)
	}
}

// startMessage returns a client ExecutionStarted envelope for instance id
// with the given input.
func startMessage(id string, input string) *MessageData {
	ts := time.Date(2026, 12, 1, 19, 0, 12, 345678900, time.UTC)
	return &MessageData{
		ActivityID: "0f8fad5b-d9cb-469f-a165-70867728950e",
		TaskMessage: &history.TaskMessage{
			Event: &history.ExecutionStartedEvent{
				OrchestrationInstance: history.OrchestrationInstance{InstanceID: id, ExecutionID: "3f9a2b1c4d5e6f708192a3b4c5d6e7f8"},
				Name:                  "HelloCities",
				Input:                 &input,
				EventBase:             history.EventBase{EventID: -1, Timestamp: ts},
			},
			OrchestrationInstance: history.OrchestrationInstance{InstanceID: id, ExecutionID: "3f9a2b1c4d5e6f708192a3b4c5d6e7f8"},
		},
		SequenceNumber: 1,
		Sender:         &Sender{},
	}
}
