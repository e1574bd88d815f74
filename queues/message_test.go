package queues

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/azdurable/azdurable/history"
)

const testdata = "../testdata"

// dictTypeRE matches the "$type" member that C# writes into dictionaries;
// azdurable omits it on purpose, so golden comparisons remove it first.
var dictTypeRE = regexp.MustCompile(`"\$type":"System\.Collections\.Generic\.Dictionary[^"]*",?`)

func withoutDictType(s string) string { return dictTypeRE.ReplaceAllString(s, "") }

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestHandMadeVectors decodes every body in testdata/messages, re-encodes it
// and compares bytes and the sha256 recorded in index.json.
func TestHandMadeVectors(t *testing.T) {
	var index struct {
		Messages []struct {
			File              string
			Sha256            string
			UTF8ByteLength    int
			Base64EncodedBody string
		}
		LargeMessageBlobExample struct {
			BlobName                string
			DecompressedContentFile string
			GzipBase64ReaderTest    string `json:"gzipBase64_readerTestOnly"`
		}
	}
	readJSON(t, filepath.Join(testdata, "messages", "index.json"), &index)
	if len(index.Messages) < 7 {
		t.Fatalf("index lists %d messages", len(index.Messages))
	}
	for _, v := range index.Messages {
		t.Run(v.File, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(testdata, "messages", v.File))
			if err != nil {
				t.Fatal(err)
			}
			if got := sha(raw); got != v.Sha256 {
				t.Fatalf("vector file changed: sha %s, index says %s", got, v.Sha256)
			}
			m, enc, err := DecodeBody(string(raw))
			if err != nil {
				t.Fatal(err)
			}
			if enc != UTF8 {
				t.Errorf("encoding = %v, want utf8", enc)
			}
			out := Marshal(m)
			want := withoutDictType(string(raw))
			if string(out) != want {
				t.Fatalf("re-encoded bytes differ\n got: %s\nwant: %s", out, want)
			}
			if want == string(raw) && sha(out) != v.Sha256 {
				t.Fatalf("sha256 %s, want %s", sha(out), v.Sha256)
			}
			if v.Base64EncodedBody != "" {
				m2, enc2, err := DecodeBody(v.Base64EncodedBody)
				if err != nil {
					t.Fatal(err)
				}
				if enc2 != Base64 {
					t.Errorf("encoding = %v, want base64", enc2)
				}
				if got := EncodeBody(m2, Base64); got != v.Base64EncodedBody {
					t.Errorf("base64 re-encoding differs")
				}
			}
		})
	}

	// The large-message example: the wrapper names the blob, and the blob
	// (gzip) holds the complete envelope.
	wrapperRaw, _ := os.ReadFile(filepath.Join(testdata, "messages", "07-largemessage-wrapper.json"))
	wrapper, _, err := DecodeBody(string(wrapperRaw))
	if err != nil {
		t.Fatal(err)
	}
	if !wrapper.IsLargeMessageWrapper() || wrapper.CompressedBlobName != index.LargeMessageBlobExample.BlobName {
		t.Fatalf("wrapper not recognised: %+v", wrapper)
	}
	if got := string(Marshal(NewWrapper(wrapper.CompressedBlobName))); got != string(wrapperRaw) {
		t.Fatalf("NewWrapper = %s\nwant %s", got, wrapperRaw)
	}
	gz, err := base64.StdEncoding.DecodeString(index.LargeMessageBlobExample.GzipBase64ReaderTest)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	content, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join(testdata, "messages", index.LargeMessageBlobExample.DecompressedContentFile))
	if !bytes.Equal(content, want) {
		t.Fatal("gzip sample does not hold the decompressed content file")
	}
	inner, err := Unmarshal(content)
	if err != nil {
		t.Fatal(err)
	}
	if got := LargeMessageBlobName(inner); got != wrapper.CompressedBlobName {
		t.Errorf("LargeMessageBlobName = %q, want %q", got, wrapper.CompressedBlobName)
	}
}

// TestCSharpCapture decodes every queue body the real C# backend sent in the
// recording and checks that re-encoding gives C#'s bytes (dictionary "$type"
// removed), for both queue encodings.
func TestCSharpCapture(t *testing.T) {
	dir := filepath.Join(testdata, "csharp", "queue-messages")
	files, err := filepath.Glob(filepath.Join(dir, "[0-9]*.json"))
	if err != nil || len(files) < 20 {
		t.Fatalf("found %d capture vectors (%v)", len(files), err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var v struct {
				Raw               string `json:"raw"`
				Sha256            string `json:"sha256"`
				Encoding          string `json:"encoding"`
				Base64DecodedText string `json:"base64_decoded_text"`
				EventType         string `json:"event_type"`
				InstanceID        string `json:"instance_id"`
				ExecutionID       string `json:"execution_id"`
			}
			readJSON(t, f, &v)
			if sha([]byte(v.Raw)) != v.Sha256 {
				t.Fatal("vector raw does not match its sha256")
			}
			m, enc, err := DecodeBody(v.Raw)
			if err != nil {
				t.Fatal(err)
			}
			jsonText := v.Raw
			wantEnc := UTF8
			if v.Encoding == "base64" {
				jsonText = v.Base64DecodedText
				wantEnc = Base64
			}
			if enc != wantEnc {
				t.Errorf("detected %v, want %v", enc, wantEnc)
			}
			out := Marshal(m)
			if want := withoutDictType(jsonText); string(out) != want {
				t.Fatalf("re-encoded bytes differ\n got: %s\nwant: %s", out, want)
			}
			if !strings.Contains(jsonText, "System.Collections.Generic.Dictionary") {
				if got := EncodeBody(m, wantEnc); sha([]byte(got)) != v.Sha256 {
					t.Errorf("body sha256 differs from the capture")
				}
			}
			if m.IsLargeMessageWrapper() {
				if !strings.HasPrefix(m.CompressedBlobName, v.InstanceID+"/message-") {
					t.Errorf("blob name %q", m.CompressedBlobName)
				}
				return
			}
			if got := m.TaskMessage.Event.Type().String(); got != v.EventType {
				t.Errorf("event type %s, want %s", got, v.EventType)
			}
			if got := m.TaskMessage.OrchestrationInstance.InstanceID; got != v.InstanceID {
				t.Errorf("instance %q, want %q", got, v.InstanceID)
			}
		})
	}
}

func TestDecodeLenient(t *testing.T) {
	// Members in another order and case, an assembly-qualified $type,
	// a .NET Framework dictionary $type, unknown members, missing optional
	// members, dates without zone and with an offset.
	body := `{"sender":{"executionid":"e1","instanceid":"i1"},"Extra":[1,2],
	  "TaskMessage":{"OrchestrationExecutionContext":{"OrchestrationTags":{"$type":"System.Collections.Generic.Dictionary` + "`" + `2[[System.String, mscorlib],[System.String, mscorlib]], mscorlib","k":"v"}},
	    "orchestrationInstance":{"InstanceId":"i1","ExecutionId":"e1"},
	    "Event":{"Timestamp":"2024-05-01T12:00:00.5","TaskScheduledId":"3","Result":"\"ok\"","$type":"DurableTask.Core.History.TaskCompletedEvent, DurableTask.Core","EventId":-1}},
	  "$type":"DurableTask.AzureStorage.MessageData, DurableTask.AzureStorage","ActivityId":"a","SequenceNumber":5,"Episode":2}`
	m, _, err := DecodeBody(body)
	if err != nil {
		t.Fatal(err)
	}
	ev, ok := m.TaskMessage.Event.(*history.TaskCompletedEvent)
	if !ok {
		t.Fatalf("event %T", m.TaskMessage.Event)
	}
	if ev.TaskScheduledID != 3 || history.Deref(ev.Result) != `"ok"` || ev.Timestamp.Nanosecond() != 500000000 {
		t.Errorf("decoded %+v", ev)
	}
	if m.Sender == nil || m.Sender.InstanceID != "i1" || *m.Episode != 2 {
		t.Errorf("envelope %+v", m)
	}
	if tags := m.TaskMessage.OrchestrationExecutionContext.OrchestrationTags; len(tags) != 1 || tags["k"] != "v" {
		t.Errorf("tags %v", tags)
	}
	// Without $type, EventType (number or name) decides.
	for _, et := range []string{`5`, `"TaskCompleted"`} {
		m, err := Unmarshal([]byte(`{"TaskMessage":{"Event":{"EventType":` + et + `,"TaskScheduledId":1}}}`))
		if err != nil {
			t.Fatal(err)
		}
		if m.TaskMessage.Event.Type() != history.TaskCompleted {
			t.Errorf("EventType %s decoded as %v", et, m.TaskMessage.Event.Type())
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	for name, body := range map[string]string{
		"empty":          "",
		"not base64":     "%%%not-json",
		"truncated":      `{"$type":"DurableTask.AzureStorage.MessageData","TaskMessage":{`,
		"no payload":     `{"ActivityId":"a","TaskMessage":null,"CompressedBlobName":null}`,
		"unknown class":  `{"TaskMessage":{"Event":{"$type":"DurableTask.Core.History.NoSuchEvent","EventType":5}}}`,
		"bad event type": `{"TaskMessage":{"Event":{"EventType":99}}}`,
		"failed type":    `{"TaskMessage":{"Event":{"EventType":2}}}`,
		"bad int":        `{"TaskMessage":{"Event":{"EventType":5,"TaskScheduledId":"x"}}}`,
		"bad date":       `{"TaskMessage":{"Event":{"EventType":12,"Timestamp":"yesterday"}}}`,
		"array":          `[1,2,3]`,
		"base64 of junk": base64.StdEncoding.EncodeToString([]byte("not json")),
	} {
		if _, _, err := DecodeBody(body); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
