package azuritetest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/storage"
)

func TestMain(m *testing.M) { azuritetest.Main(m) }

// TestHubRoundTripAndCleanup is the first test that really talks to
// storage: it writes a queue message, a table entity and a blob under the
// names a task hub uses, reads each back, and checks that NewHub's cleanup
// removes exactly that hub's resources.
func TestHubRoundTripAndCleanup(t *testing.T) {
	acct := azuritetest.Account(t)
	queues, err := acct.QueueService(nil)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := acct.TableService(nil)
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := acct.BlobService(nil)
	if err != nil {
		t.Fatal(err)
	}

	// A neighbour hub whose queue must survive the other hub's cleanup.
	neighbour := azuritetest.NewHub(t)
	neighbourQueue := strings.ToLower(neighbour) + "-workitems"
	if _, err := queues.CreateQueue(t.Context(), neighbourQueue, nil); err != nil {
		t.Fatalf("create neighbour queue: %v", err)
	}

	var hub string
	var queueName, tableName, containerName string
	t.Run("write and read back", func(t *testing.T) {
		hub = azuritetest.NewHub(t) // its cleanup runs when this subtest ends
		ctx := t.Context()
		queueName = strings.ToLower(hub) + "-control-00"
		tableName = hub + "History"
		containerName = strings.ToLower(hub) + "-largemessages"

		q := queues.NewQueueClient(queueName)
		if _, err := q.Create(ctx, nil); err != nil {
			t.Fatalf("create queue: %v", err)
		}
		const msg = `{"$type":"DurableTask.AzureStorage.MessageData","SequenceNumber":1}`
		if _, err := q.EnqueueMessage(ctx, msg, nil); err != nil {
			t.Fatalf("enqueue: %v", err)
		}
		got, err := q.DequeueMessage(ctx, nil)
		if err != nil {
			t.Fatalf("dequeue: %v", err)
		}
		if len(got.Messages) != 1 || got.Messages[0].MessageText == nil || *got.Messages[0].MessageText != msg {
			t.Fatalf("dequeued %d messages, want the one enqueued", len(got.Messages))
		}

		tc := tables.NewClient(tableName)
		if _, err := tc.CreateTable(ctx, nil); err != nil {
			t.Fatalf("create table: %v", err)
		}
		row := aztables.EDMEntity{
			Entity: aztables.Entity{PartitionKey: "instance-1", RowKey: "0000000000000000"},
			Properties: map[string]any{
				"EventType":   int32(0),
				"Name":        "HelloCities",
				"ExecutionId": "9f3c2d1e",
			},
		}
		body, err := json.Marshal(row)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tc.AddEntity(ctx, body, nil); err != nil {
			t.Fatalf("add entity: %v", err)
		}
		ent, err := tc.GetEntity(ctx, "instance-1", "0000000000000000", nil)
		if err != nil {
			t.Fatalf("get entity: %v", err)
		}
		var back aztables.EDMEntity
		if err := json.Unmarshal(ent.Value, &back); err != nil {
			t.Fatalf("decode entity: %v", err)
		}
		if back.Properties["Name"] != "HelloCities" || back.Properties["EventType"] != int32(0) || back.RowKey != row.RowKey {
			t.Fatalf("entity read back as %+v", back)
		}

		if _, err := blobs.CreateContainer(ctx, containerName, nil); err != nil {
			t.Fatalf("create container: %v", err)
		}
		payload := bytes.Repeat([]byte("large message "), 10_000)
		const blobName = "instance-1/message-1.json.gz"
		if _, err := blobs.UploadBuffer(ctx, containerName, blobName, payload, nil); err != nil {
			t.Fatalf("upload blob: %v", err)
		}
		dl, err := blobs.DownloadStream(ctx, containerName, blobName, nil)
		if err != nil {
			t.Fatalf("download blob: %v", err)
		}
		data, err := io.ReadAll(dl.Body)
		dl.Body.Close()
		if err != nil {
			t.Fatalf("read blob: %v", err)
		}
		if !bytes.Equal(data, payload) {
			t.Fatalf("blob read back as %d bytes, want %d", len(data), len(payload))
		}

		res, err := azuritetest.ListHub(ctx, acct, hub)
		if err != nil {
			t.Fatal(err)
		}
		want := azuritetest.Resources{Queues: []string{queueName}, Tables: []string{tableName}, Containers: []string{containerName}}
		if !slices.Equal(res.Queues, want.Queues) || !slices.Equal(res.Tables, want.Tables) || !slices.Equal(res.Containers, want.Containers) {
			t.Fatalf("ListHub = %+v, want %+v", res, want)
		}
	})
	if hub == "" {
		t.Fatal("subtest did not create a hub")
	}

	// The subtest's cleanup has run: the hub is gone, the neighbour is not.
	ctx := t.Context()
	azuritetest.WaitFor(t, 3*time.Minute, "hub "+hub+" to be deleted", func() (bool, error) {
		res, err := azuritetest.ListHub(ctx, acct, hub)
		return res.Empty(), err
	})
	left, err := azuritetest.ListHub(ctx, acct, neighbour)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(left.Queues, []string{neighbourQueue}) {
		t.Errorf("neighbour hub after the other's cleanup: %+v, want its queue %s", left, neighbourQueue)
	}
}

var hubName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{2,44}$`)

func TestNewHubNames(t *testing.T) {
	seen := map[string]bool{}
	for range 20 {
		h := azuritetest.NewHub(t)
		if !hubName.MatchString(h) {
			t.Errorf("hub %q is not a valid task hub name", h)
		}
		// Equal lengths mean no hub's names can be a prefix of another's,
		// which is what keeps one hub's cleanup off its neighbours.
		if len(h) != 13 {
			t.Errorf("hub %q has length %d, want 13", h, len(h))
		}
		if seen[h] {
			t.Errorf("hub %q returned twice", h)
		}
		seen[h] = true
	}
}

func TestConnectionStringMatchesAccount(t *testing.T) {
	acct, err := storage.ParseConnectionString(azuritetest.ConnectionString(t))
	if err != nil {
		t.Fatal(err)
	}
	if acct.Endpoints() != azuritetest.Account(t).Endpoints() {
		t.Errorf("ConnectionString describes %v, Account is %v", acct, azuritetest.Account(t))
	}
}

// TestAccountFailsWithInstructions runs this test binary again with no
// usable Azurite (or a bad connection string) and checks that the test
// fails, rather than skips, and says how to fix it without leaking secrets.
func TestAccountFailsWithInstructions(t *testing.T) {
	if os.Getenv("AZURITETEST_CHILD") == "1" {
		azuritetest.Account(t)
		return
	}
	const canary = "Q0FOQVJZLXNlY3JldC1rZXk9"
	for _, tt := range []struct {
		name string
		env  []string
		want []string
	}{
		{
			name: "no azurite",
			env:  []string{"AZDURABLE_AZURITE=" + filepath.Join(t.TempDir(), "no-such-azurite"), azuritetest.EnvStorage + "="},
			want: []string{`make tools`, "AZDURABLE_AZURITE", azuritetest.EnvStorage},
		},
		{
			name: "bad connection string",
			env:  []string{azuritetest.EnvStorage + "=AccountKey=" + canary},
			want: []string{azuritetest.EnvStorage, "AccountName is missing"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestAccountFailsWithInstructions$", "-test.count=1")
			cmd.Env = append(append(os.Environ(), "AZURITETEST_CHILD=1"), tt.env...)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("child passed; want a failure. Output:\n%s", out)
			}
			text := string(out)
			if !strings.Contains(text, "--- FAIL") || strings.Contains(text, "SKIP") {
				t.Errorf("child did not fail the test:\n%s", text)
			}
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("child output lacks %q:\n%s", w, text)
				}
			}
			if strings.Contains(text, canary) {
				t.Errorf("child output leaks the key:\n%s", text)
			}
		})
	}
}
