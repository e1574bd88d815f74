package queues

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/azdurable/azdurable/blobs"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/azuritetest"
)

// withSize returns a start message whose JSON is exactly size bytes.
func withSize(t *testing.T, id string, size int) *MessageData {
	t.Helper()
	m := startMessage(id, "")
	base := len(Marshal(m))
	m = startMessage(id, strings.Repeat("x", size-base))
	if n := len(Marshal(m)); n != size {
		t.Fatalf("built %d bytes, want %d", n, size)
	}
	return m
}

// TestCodecThreshold: an envelope of exactly LargeMessageThreshold bytes is
// sent inline and one byte more is offloaded, in both encodings; inline
// texts are the plain codec's bytes. The store points at no server, so an
// offload attempt shows up as a blob error.
func TestCodecThreshold(t *testing.T) {
	svc, err := azblob.NewClientWithNoCredential("http://127.0.0.1:1/devstoreaccount1", nil)
	if err != nil {
		t.Fatal(err)
	}
	store := blobs.New(svc, "nohub-largemessages", nil)
	for _, enc := range []Encoding{UTF8, Base64} {
		c := NewCodec(enc, store)
		m := withSize(t, "inline", LargeMessageThreshold)
		text, name, err := c.EncodeOffload(t.Context(), m)
		if err != nil || name != "" || text != EncodeBody(m, enc) {
			t.Fatalf("%v: %d bytes: name %q, err %v; want inline", enc, LargeMessageThreshold, name, err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		_, _, err = c.EncodeOffload(ctx, withSize(t, "large", LargeMessageThreshold+1))
		cancel()
		var be *blobs.Error
		if !errors.As(err, &be) || be.Container != "nohub-largemessages" {
			t.Fatalf("%v: %d bytes: err = %v, want a failed attempt to offload to the container", enc, LargeMessageThreshold+1, err)
		}
	}
	if _, err := NewCodec(UTF8, nil).Encode(t.Context(), withSize(t, "large", LargeMessageThreshold+1)); err == nil {
		t.Fatal("a codec without a store accepted a large message")
	}
}

// TestCodecLargeInput sends a 1 MiB ExecutionStarted input through the codec
// and a real queue: the queue carries C#'s wrapper (with the real message's
// delay), the blob sits in <hub>-largemessages under C#'s name and holds the
// full envelope with CompressedBlobName null, and Decode gives back the
// original envelope.
func TestCodecLargeInput(t *testing.T) {
	t.Parallel()
	h := newHubEnv(t)
	for _, enc := range []Encoding{UTF8, Base64} {
		t.Run(enc.String(), func(t *testing.T) {
			ctx := t.Context()
			q := h.queue(t, int(enc))
			c := NewCodec(enc, h.store)
			m := startMessage("order 12345/"+enc.String(), strings.Repeat("0123456789abcdef", 1<<16))
			sent, err := c.Send(ctx, q, m, 1500*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if d := sent.NextVisible.Sub(sent.InsertionTime); d != time.Second {
				t.Errorf("wrapper delay %v, want the message's 1 s", d)
			}
			msgs := receiveWithin(t, q, 2*time.Minute, time.Minute, "the wrapper")
			wrapper, gotEnc, err := DecodeBody(msgs[0].Text)
			if err != nil || gotEnc != enc {
				t.Fatalf("queue text: %v, encoding %v", err, gotEnc)
			}
			wantName := "order 12345/" + enc.String() + "/message-0f8fad5bd9cb469fa16570867728950e-ExecutionStarted.json.gz"
			if !wrapper.IsLargeMessageWrapper() || wrapper.CompressedBlobName != wantName {
				t.Fatalf("queue carries %q, want the wrapper for %q", wrapper.CompressedBlobName, wantName)
			}
			if got := string(Marshal(wrapper)); got != string(Marshal(NewWrapper(wantName))) {
				t.Fatalf("wrapper bytes %s", got)
			}
			inBlob, err := h.store.DownloadGzip(ctx, wantName)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(inBlob, Marshal(m)) || !bytes.Contains(inBlob, []byte(`"CompressedBlobName":null`)) {
				t.Fatal("the blob does not hold the complete original envelope")
			}
			got, err := c.Decode(ctx, msgs[0].Text)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(Marshal(got), Marshal(m)) {
				t.Fatal("decoded envelope differs from the one sent")
			}
		})
	}
}

// TestCodecBothEncodings: recorded C# bodies, raw JSON and base64, sent to
// a real queue, decode to the recorded envelopes whatever the codec's own
// encoding.
func TestCodecBothEncodings(t *testing.T) {
	t.Parallel()
	h := newHubEnv(t)
	q := h.queue(t)
	ctx := t.Context()
	var texts []string
	for _, f := range []string{"01-cshub-executionstarted-control-client-plain.json", "22-cshubb64-executionstarted-control-client-plain.json"} {
		var v struct{ Raw, Encoding string }
		readJSON(t, filepath.Join(testdata, "csharp", "queue-messages", f), &v)
		texts = append(texts, v.Raw)
	}
	if strings.HasPrefix(texts[1], "{") {
		t.Fatal("the CsHubB64 vector is not base64")
	}
	for _, text := range texts {
		if _, err := q.Send(ctx, text, 0); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := q.Receive(ctx, MaxBatch, time.Minute)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("received %d, %v", len(msgs), err)
	}
	for _, m := range msgs {
		want, _, err := DecodeBody(m.Text)
		if err != nil {
			t.Fatal(err)
		}
		for _, enc := range []Encoding{UTF8, Base64} {
			got, err := NewCodec(enc, h.store).Decode(ctx, m.Text)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(Marshal(got), Marshal(want)) || got.TaskMessage.Event.Type() != history.ExecutionStarted {
				t.Fatalf("decoded %s", Marshal(got))
			}
		}
	}
}

// TestCodecCSharpLargeMessage decodes C#'s recorded large message: its
// wrapper text from the queue and its blob bytes (.NET gzip) in the
// container, as a C# worker left them.
func TestCodecCSharpLargeMessage(t *testing.T) {
	t.Parallel()
	h := newHubEnv(t)
	ctx := t.Context()
	var wrapper struct{ Raw string }
	readJSON(t, filepath.Join(testdata, "csharp", "queue-messages", "17-cshub-largemessagewrapper-control-worker-wraps-taskcompleted.json"), &wrapper)
	var blob struct {
		Name          string
		Base64        string
		ContentSha256 string `json:"content_sha256"`
	}
	readJSON(t, filepath.Join(testdata, "csharp", "blobs", "cshub-largemessages", "capture-large__message-c2c317d8c8a64f5290ff99b8e56e9b69-TaskCompleted.json.gz.json"), &blob)
	gz, err := base64.StdEncoding.DecodeString(blob.Base64)
	if err != nil {
		t.Fatal(err)
	}
	putRaw(t, h, blob.Name, gz)
	q := h.queue(t, 3)
	if _, err := q.Send(ctx, wrapper.Raw, 0); err != nil {
		t.Fatal(err)
	}
	msgs, err := q.Receive(ctx, MaxBatch, time.Minute)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("received %d, %v", len(msgs), err)
	}
	m, err := NewCodec(UTF8, h.store).Decode(ctx, msgs[0].Text)
	if err != nil {
		t.Fatal(err)
	}
	tc, ok := m.TaskMessage.Event.(*history.TaskCompletedEvent)
	if !ok || tc.Result == nil || len(*tc.Result) != 100_002 || m.CompressedBlobName != "" {
		t.Fatalf("decoded %T, want a TaskCompleted with the 100 002-byte result", m.TaskMessage.Event)
	}
	if m.ActivityID != "c2c317d8-c8a6-4f52-90ff-99b8e56e9b69" || m.TaskMessage.OrchestrationInstance.InstanceID != "capture-large" {
		t.Fatalf("envelope %s / %s", m.ActivityID, m.TaskMessage.OrchestrationInstance.InstanceID)
	}
	sum := sha256.Sum256(Marshal(m))
	if got := hex.EncodeToString(sum[:]); got != blob.ContentSha256 {
		t.Errorf("re-encoded envelope sha256 %s, the recorded blob content has %s", got, blob.ContentSha256)
	}
}

// putRaw stores bytes as a blob without the Store (to plant C#'s bytes or
// broken data).
func putRaw(t *testing.T, h *hubEnv, name string, data []byte) {
	t.Helper()
	if err := h.store.UploadGzip(t.Context(), "seed/creates-the-container", nil); err != nil {
		t.Fatal(err)
	}
	bsvc, err := azuritetest.Account(t).BlobService(nil)
	if err != nil {
		t.Fatal(err)
	}
	bb := bsvc.ServiceClient().NewContainerClient(h.store.Container()).NewBlockBlobClient(name)
	if _, err := bb.Upload(t.Context(), streaming.NopCloser(bytes.NewReader(data)), nil); err != nil {
		t.Fatal(err)
	}
}

// TestCodecDecodeErrors: each way a message can be broken gives its own
// error, naming the blob where there is one, so the caller can log the
// reason and abandon.
func TestCodecDecodeErrors(t *testing.T) {
	t.Parallel()
	h := newHubEnv(t)
	ctx := t.Context()
	c := NewCodec(UTF8, h.store)
	full := Marshal(startMessage("broken", "input"))
	putRaw(t, h, "broken/truncated.json.gz", blobs.Compress(full)[:40])
	putRaw(t, h, "broken/not-json.json.gz", blobs.Compress([]byte("not an envelope")))
	putRaw(t, h, "broken/wrapper.json.gz", blobs.Compress(Marshal(NewWrapper("broken/other"))))
	wrap := func(name string) string { return EncodeBody(NewWrapper(name), UTF8) }
	cases := []struct {
		name, text string
		want       []error
		mention    string
	}{
		{"empty", "", []error{ErrBadBody}, ""},
		{"not json or base64", "hello, world!", []error{ErrBadBody}, ""},
		{"bad json", `{"$type":"DurableTask.AzureStorage.MessageData","ActivityId":`, []error{ErrBadBody}, ""},
		{"missing blob", wrap("broken/missing.json.gz"), []error{ErrLargeMessageMissing, blobs.ErrNotFound}, "broken/missing.json.gz"},
		{"truncated gzip", wrap("broken/truncated.json.gz"), []error{ErrLargeMessageCorrupt, blobs.ErrCorrupt}, "broken/truncated.json.gz"},
		{"blob not an envelope", wrap("broken/not-json.json.gz"), []error{ErrLargeMessageCorrupt}, "broken/not-json.json.gz"},
		{"blob holds a wrapper", wrap("broken/wrapper.json.gz"), []error{ErrLargeMessageCorrupt}, "broken/wrapper.json.gz"},
	}
	for _, tc := range cases {
		_, err := c.Decode(ctx, tc.text)
		for _, want := range tc.want {
			if !errors.Is(err, want) {
				t.Errorf("%s: err = %v, want %v", tc.name, err, want)
			}
		}
		if err != nil && !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%s: error %q does not name %q", tc.name, err, tc.mention)
		}
	}
}

// TestCodecSmallNeedsNoContainer: inline messages never touch blob storage,
// so the container is not created (C# creates it only for the first
// offload).
func TestCodecSmallNeedsNoContainer(t *testing.T) {
	t.Parallel()
	h := newHubEnv(t)
	q := h.queue(t)
	if _, err := NewCodec(UTF8, h.store).Send(t.Context(), q, startMessage("small", `"hi"`), 0); err != nil {
		t.Fatal(err)
	}
	res, err := azuritetest.ListHub(t.Context(), azuritetest.Account(t), h.names.TaskHub())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Containers) != 0 {
		t.Fatalf("containers %v exist after an inline send", res.Containers)
	}
	msgs, err := q.Receive(t.Context(), 1, time.Minute)
	if err != nil || len(msgs) != 1 || !regexp.MustCompile(`^\{"\$type":"DurableTask\.AzureStorage\.MessageData"`).MatchString(msgs[0].Text) {
		t.Fatalf("received %v, %v", msgs, err)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(msgs[0].Text), &v); err != nil || v["CompressedBlobName"] != nil {
		t.Fatalf("inline body %s", msgs[0].Text)
	}
}
