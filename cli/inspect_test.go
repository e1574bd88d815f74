package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/internal/conformance"
)

// run runs the command line as the azdurable program's tests need it:
// with worker --conformance (the program adds that flag itself).
func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Run(args, strings.NewReader(stdin), &out, &errOut, withConformance)
	return code, out.String(), errOut.String()
}

var withConformance = WithRegistrationFlag("conformance", "also host the conformance set",
	func(HostInfo) ([]durable.Registrable, error) { return conformance.Registrations(), nil })

func TestInspectMessage(t *testing.T) {
	raw, err := os.ReadFile("../testdata/messages/03-taskcompleted-to-control.json")
	if err != nil {
		t.Fatal(err)
	}
	var index struct {
		Messages []struct{ File, Base64EncodedBody string }
	}
	idx, _ := os.ReadFile("../testdata/messages/index.json")
	if err := json.Unmarshal(idx, &index); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, stdin, encoding, eventType string
		args                             []string
	}{
		{"file", "", "utf8", "TaskCompleted", []string{"inspect", "message", "../testdata/messages/03-taskcompleted-to-control.json"}},
		{"stdin", string(raw), "utf8", "TaskCompleted", []string{"inspect", "message", "-"}},
		{"base64", index.Messages[0].Base64EncodedBody, "base64", "ExecutionStarted", []string{"inspect", "message"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(t, tc.stdin, tc.args...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			var got struct {
				Encoding, EventType, InstanceID, ExecutionID string
				Message                                      map[string]any
			}
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, out)
			}
			if got.Encoding != tc.encoding || got.EventType != tc.eventType || got.InstanceID != "order-12345" ||
				got.ExecutionID != "9f0b7a4d2c1e4b6fa8d3e5c7b9a1f2e4" || got.Message["$type"] != "DurableTask.AzureStorage.MessageData" {
				t.Errorf("report %+v", got)
			}
		})
	}
	code, out, _ := run(t, "", "inspect", "message", "../testdata/messages/07-largemessage-wrapper.json")
	if code != 0 || !strings.Contains(out, `"blobName": "order-12345/message-0f8fad5bd9cb469fa16570867728950e-ExecutionStarted.json.gz"`) {
		t.Errorf("wrapper: exit %d\n%s", code, out)
	}
}

func TestInspectMessageMalformed(t *testing.T) {
	for name, body := range map[string]string{
		"garbage":   "garbage!",
		"truncated": `{"$type":"DurableTask.AzureStorage.MessageData","TaskMessage":{"Event":`,
		"empty":     "",
		"bad type":  `{"TaskMessage":{"Event":{"$type":"Nope","EventType":1}}}`,
	} {
		code, out, errOut := run(t, body, "inspect", "message")
		if code == 0 || out != "" {
			t.Errorf("%s: exit %d, stdout %q", name, code, out)
		}
		if !strings.HasPrefix(errOut, "azdurable: ") || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%s: stderr is not one line: %q", name, errOut)
		}
	}
	if code, _, errOut := run(t, "", "inspect", "message", "/no/such/file"); code == 0 || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing file: exit %d %q", code, errOut)
	}
}

func TestInspectPartition(t *testing.T) {
	code, out, _ := run(t, "", "inspect", "partition", "--partitions", "4", "--task-hub", "MyTaskHub", "order-12345")
	if code != 0 || out != "01 mytaskhub-control-01\n" {
		t.Errorf("exit %d, %q", code, out)
	}
	code, out, _ = run(t, "", "inspect", "partition", "--partitions", "16", "order-12345")
	if code != 0 || out != "13\n" {
		t.Errorf("exit %d, %q", code, out)
	}
	for _, args := range [][]string{
		{"inspect", "partition", "order-12345"},
		{"inspect", "partition", "--partitions", "17", "x"},
		{"inspect", "partition", "--partitions", "4", "--task-hub", "bad-hub", "x"},
		{"inspect", "partition", "--partitions", "4"},
		{"inspect", "partition", "--partitions", "four", "x"},
	} {
		code, out, errOut := run(t, "", args...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, out %q, err %q", args, code, out, errOut)
		}
	}
}
