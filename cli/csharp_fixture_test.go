package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/taskhub"
)

// The C# capture (testdata/csharp) was taken on hub CsHub with 4
// partitions. The fixture copies part of it, renamed to a fresh hub, into
// Azurite with the Azure SDK alone: History, Instances and Partitions rows,
// queue bodies and large-message blobs as C# wrote them (minus the
// service's own odata.etag and Timestamp; hub names replaced), so that
// nothing of azdurable's codecs is involved.
const csDir = "../testdata/csharp"

// csFinished are instances loaded in their final state (all History rows,
// sentinel included, and the final Instances row).
var csFinished = []string{"capture-hello", "capture-uncaught", "capture-parent",
	"99c91641e2be472792e856ae3adba372:0", "capture-large"}

// csHub is a task hub holding C#-written data.
type csHub struct {
	t      *testing.T
	hub    string
	tables *aztables.ServiceClient
	queues *azqueue.ServiceClient
	blobs  *azblob.Client
}

func fileName(id string) string { return strings.ReplaceAll(id, ":", "_") }

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(csDir, path))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// entity turns stored or sent entity JSON into a request body for the new
// hub: the service-set members go, the hub name is replaced.
func (h *csHub) entity(raw string) []byte {
	h.t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		h.t.Fatal(err)
	}
	delete(m, "odata.etag")
	delete(m, "Timestamp")
	if _, ok := m["TaskHubName"]; ok {
		m["TaskHubName"] = json.RawMessage(fmt.Sprintf("%q", h.hub))
	}
	out, err := json.Marshal(m)
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

func (h *csHub) table(suffix string) *aztables.Client { return h.tables.NewClient(h.hub + suffix) }

// queueName maps a CsHub queue name to the new hub.
func (h *csHub) queueName(csName string) string {
	return strings.ToLower(h.hub) + strings.TrimPrefix(csName, "cshub")
}

func loadCSharpHub(t *testing.T, hub string) *csHub {
	t.Helper()
	acct := azuritetest.Account(t)
	h := &csHub{t: t, hub: hub}
	var err error
	if h.tables, err = acct.TableService(nil); err != nil {
		t.Fatal(err)
	}
	if h.queues, err = acct.QueueService(nil); err != nil {
		t.Fatal(err)
	}
	if h.blobs, err = acct.BlobService(nil); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, s := range []string{"History", "Instances", "Partitions"} {
		if _, err := h.tables.CreateTable(ctx, hub+s, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range taskhub.DefaultPartitions {
		if _, err := h.queues.CreateQueue(ctx, h.queueName(fmt.Sprintf("cshub-control-%02d", i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.queues.CreateQueue(ctx, h.queueName("cshub-workitems"), nil); err != nil {
		t.Fatal(err)
	}

	// The Partitions rows (one per control queue, owned by the C# worker
	// that has since stopped) are what marks the hub as existing.
	var parts struct{ Rows []map[string]any }
	readJSON(t, "tables/final/CsHub/Partitions.json", &parts)
	for _, r := range parts.Rows {
		r["RowKey"] = h.queueName(r["RowKey"].(string))
		raw, _ := json.Marshal(r)
		h.add("Partitions", h.entity(string(raw)))
	}
	var inst struct{ Rows []map[string]any }
	readJSON(t, "tables/final/CsHub/Instances.json", &inst)
	finalRow := map[string][]byte{}
	for _, r := range inst.Rows {
		raw, _ := json.Marshal(r)
		finalRow[r["PartitionKey"].(string)] = h.entity(string(raw))
	}
	for _, id := range csFinished {
		h.addHistory(id, -1)
		h.add("Instances", finalRow[id])
	}
	// capture-terminate as it was while it waited for its event: the first
	// episode's rows, and the Instances insert and merge of that time.
	h.addHistory("capture-terminate", 3)
	h.replayInstanceWrites("capture-terminate", 2)
	// capture-scheduled before its delayed start: only the Pending row and
	// the ExecutionStarted message in its control queue.
	h.replayInstanceWrites("capture-scheduled", 1)
	var msg struct{ Queue, Raw string }
	readJSON(t, "queue-messages/02-cshub-executionstarted-control-client-scheduled.json", &msg)
	if _, err := h.queues.NewQueueClient(h.queueName(msg.Queue)).EnqueueMessage(ctx, msg.Raw, nil); err != nil {
		t.Fatal(err)
	}
	// capture-large's offloaded column and message, gzip bytes as stored.
	container := strings.ToLower(hub) + "-largemessages"
	if _, err := h.blobs.CreateContainer(ctx, container, nil); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"capture-large__history-0000000000000005-TaskCompleted-607C896C-Result.json.gz.json",
		"capture-large__message-c2c317d8c8a64f5290ff99b8e56e9b69-TaskCompleted.json.gz.json"} {
		var b struct{ Name, Base64 string }
		readJSON(t, "blobs/cshub-largemessages/"+f, &b)
		data, err := base64.StdEncoding.DecodeString(b.Base64)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.blobs.UploadBuffer(ctx, container, b.Name, data, nil); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func (h *csHub) add(table string, body []byte) {
	h.t.Helper()
	if _, err := h.table(table).AddEntity(context.Background(), body, nil); err != nil {
		h.t.Fatalf("%s: add %s: %v", table, body, err)
	}
}

// addHistory adds an instance's History rows: all of them (n < 0), or the
// first n and the sentinel.
func (h *csHub) addHistory(id string, n int) {
	h.t.Helper()
	var f struct{ Rows []struct{ Raw string } }
	readJSON(h.t, "tables/final/CsHub/History/"+fileName(id)+".json", &f)
	for i, r := range f.Rows {
		if n < 0 || i < n || i == len(f.Rows)-1 {
			h.add("History", h.entity(r.Raw))
		}
	}
}

// replayInstanceWrites sends the first n Instances writes C# made for id,
// with the same operations.
func (h *csHub) replayInstanceWrites(id string, n int) {
	h.t.Helper()
	var f struct {
		Writes []struct {
			Op      string
			BodyRaw string `json:"body_raw"`
		}
	}
	readJSON(h.t, "tables/instance-writes/CsHub/"+id+".json", &f)
	for _, w := range f.Writes[:n] {
		body := h.entity(w.BodyRaw)
		switch w.Op {
		case "table.insert":
			h.add("Instances", body)
		case "table.upsert-merge":
			if _, err := h.table("Instances").UpsertEntity(context.Background(), body,
				&aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeMerge}); err != nil {
				h.t.Fatal(err)
			}
		default:
			h.t.Fatalf("unexpected write %s", w.Op)
		}
	}
}

// peek returns the raw bodies waiting in one of the hub's queues.
func (h *csHub) peek(csQueue string) []string {
	h.t.Helper()
	resp, err := h.queues.NewQueueClient(h.queueName(csQueue)).PeekMessages(context.Background(),
		&azqueue.PeekMessagesOptions{NumberOfMessages: to.Ptr(int32(32))})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, m := range resp.Messages {
		out = append(out, *m.MessageText)
	}
	return out
}

// left counts what remains of an instance: History rows, Instances rows
// and blobs under its id; of every instance when id is "".
func (h *csHub) left(id string) (rows, instances, blobs int) {
	h.t.Helper()
	ctx := context.Background()
	var filter, prefix *string
	if id != "" {
		filter, prefix = to.Ptr(fmt.Sprintf("PartitionKey eq '%s'", id)), to.Ptr(id+"/")
	}
	for _, table := range []string{"History", "Instances"} {
		p := h.table(table).NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: filter})
		for p.More() {
			page, err := p.NextPage(ctx)
			if err != nil {
				h.t.Fatal(err)
			}
			if table == "History" {
				rows += len(page.Entities)
			} else {
				instances += len(page.Entities)
			}
		}
	}
	p := h.blobs.NewListBlobsFlatPager(strings.ToLower(h.hub)+"-largemessages", &azblob.ListBlobsFlatOptions{Prefix: prefix})
	for p.More() {
		page, err := p.NextPage(ctx)
		if err != nil {
			h.t.Fatal(err)
		}
		blobs += len(page.Segment.BlobItems)
	}
	return rows, instances, blobs
}
