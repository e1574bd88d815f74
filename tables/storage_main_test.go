package tables

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/azdurable/azdurable/blobs"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/storage"
)

func TestMain(m *testing.M) { azuritetest.Main(m) }

// env is one fresh task hub on the shared Azurite: its History and
// Instances tables (created), its large-message container (created on
// first upload), the stores over them, and a counter of every call made
// through env's clients.
type env struct {
	hub       string
	svc       *aztables.ServiceClient
	blobs     *blobs.Store
	bsvc      *azblob.Client
	hist      *HistoryStore
	inst      *InstanceStore
	calls     *storage.CallCounter
	batches   *batchRecorder
	histName  string
	instName  string
	container string
}

func newEnv(t *testing.T, o *StoreOptions) *env {
	t.Helper()
	acct := azuritetest.Account(t)
	hub := azuritetest.NewHub(t)
	calls := storage.NewCallCounter(acct.Endpoints())
	rec := &batchRecorder{}
	opts := &storage.ClientOptions{PerRetryPolicies: []policy.Policy{calls.Policy(), rec}}
	svc, err := acct.TableService(opts)
	if err != nil {
		t.Fatal(err)
	}
	bsvc, err := acct.BlobService(opts)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{hub: hub, svc: svc, calls: calls, batches: rec,
		histName: hub + "History", instName: hub + "Instances", container: strings.ToLower(hub) + "-largemessages"}
	e.bsvc = bsvc
	e.blobs = blobs.New(bsvc, e.container, nil)
	e.hist = NewHistoryStore(svc, e.histName, e.blobs, o)
	e.inst = NewInstanceStore(svc, e.instName)
	if err := CreateTables(testCtx(t), svc, e.histName, e.instName); err != nil {
		t.Fatal(err)
	}
	calls.Reset()
	return e
}

// testCtx returns a context that ends with the test or after two minutes.
func testCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// count returns how many calls of service/category/operation were made
// since the last Reset.
func (e *env) count(key string) int64 {
	for k, v := range e.calls.Snapshot().Counts {
		if k.String() == key {
			return v
		}
	}
	return 0
}

// rawRows lists a History partition as stored, straight from the SDK.
func (e *env) rawRows(t *testing.T, table, pk string) []*Entity {
	t.Helper()
	filter := "PartitionKey eq " + odataString(pk)
	rows, err := queryAll(testCtx(t), e.svc.NewClient(table), table, pk, &aztables.ListEntitiesOptions{Filter: &filter})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// batchRecorder is a pipeline policy that keeps the body of every $batch
// request the clients send: what actually went on the wire.
type batchRecorder struct {
	mu     sync.Mutex
	bodies []string
}

func (r *batchRecorder) Do(req *policy.Request) (*http.Response, error) {
	if strings.HasSuffix(req.Raw().URL.Path, "/$batch") {
		if body := req.Body(); body != nil {
			b, _ := io.ReadAll(body)
			_ = req.RewindBody()
			r.mu.Lock()
			r.bodies = append(r.bodies, string(b))
			r.mu.Unlock()
		}
	}
	return req.Next()
}

func (r *batchRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.bodies
	r.bodies = nil
	return out
}

// batchOp is one operation read back from a recorded $batch body.
type batchOp struct {
	Method string
	RowKey string
	Entity map[string]any
	Header string
}

// parseBatchRequest splits a recorded $batch request body into its
// operations (method, RowKey from the URL, JSON body, headers).
func parseBatchRequest(t *testing.T, body string) []batchOp {
	t.Helper()
	var ops []batchOp
	for _, part := range strings.Split(body, "Content-Type: application/http\r\n")[1:] {
		part = strings.TrimLeft(part, "\r\n")
		line, rest, _ := strings.Cut(part, "\r\n")
		method, _, _ := strings.Cut(line, " ")
		op := batchOp{Method: method}
		if i := strings.Index(line, "RowKey='"); i >= 0 {
			rk := line[i+len("RowKey='"):]
			op.RowKey = rk[:strings.Index(rk, "'")]
		}
		hdr, payload, _ := strings.Cut(rest, "\r\n\r\n")
		op.Header = hdr
		if j := strings.IndexByte(payload, '{'); j >= 0 {
			dec := json.NewDecoder(bytes.NewReader([]byte(payload[j:])))
			if err := dec.Decode(&op.Entity); err != nil {
				t.Fatalf("batch op body: %v", err)
			}
			if rk, ok := op.Entity["RowKey"].(string); ok && op.RowKey == "" {
				op.RowKey = rk
			}
		}
		ops = append(ops, op)
	}
	return ops
}
