package cli

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/conformance"
	"github.com/azdurable/azdurable/internal/registry"
	"github.com/azdurable/azdurable/samples"
	"github.com/azdurable/azdurable/samples/counter"
	"github.com/azdurable/azdurable/samples/hellocities"
	"github.com/azdurable/azdurable/storage"
)

func TestWorkerUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--encoding", "utf16"}, "--encoding must be utf8 or base64"},
		{[]string{"--encoding", ""}, "--encoding must be utf8 or base64"},
		{[]string{"--partition-manager", "blob"}, "--partition-manager must be table or safe"},
		{[]string{"--max-poll", "0"}, "--max-poll must be more than 0"},
		{[]string{"--max-concurrent-activities", "0"}, "--max-concurrent-activities must be at least 1"},
		{[]string{"--max-concurrent-orchestrations", "-1"}, "--max-concurrent-orchestrations must be at least 1"},
		{[]string{"--drain-timeout", "0s"}, "--drain-timeout must be positive"},
		{[]string{"extra"}, "accepts 0 arg(s)"},
	} {
		args := append([]string{"worker", "--task-hub", "SomeHub"}, tc.args...)
		code, out, errOut := run(t, "", args...)
		if code != 2 || out != "" || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, %q %q", tc.args, code, out, errOut)
		}
	}
}

// A program without registrations has nothing to host: the worker says how
// to give it some instead of idling.
func TestWorkerWithoutRegistrations(t *testing.T) {
	hub := azuritetest.NewHub(t)
	code, out, errOut := run(t, "", "worker", "--connection-string", azuritetest.ConnectionString(t), "--task-hub", hub)
	if code != 2 || out != "" || !strings.Contains(errOut, "cli.WithRegistrations") {
		t.Errorf("exit %d, %q %q", code, out, errOut)
	}
}

func TestDedupeRegistrations(t *testing.T) {
	all := append(samples.All(nil), conformance.Registrations()...)
	all = append(all, counter.Registrations()...)
	if err := registry.Add(registry.New(nil), all...); err == nil {
		t.Fatal("the samples and the conformance set share HelloCities, yet registering both did not fail: the test proves nothing")
	}
	// The same name in another case is the same orchestration; another
	// version of an activity is another registration.
	again := durable.NewOrchestration("hellocities", func(durable.Context, string) (string, error) { return "", nil })
	v2 := durable.NewActivity("SayHello", func(_ context.Context, s string) (string, error) { return s, nil }, durable.Version("2"))
	got, n := dedupe(append(all, again, v2))
	if err := registry.Add(registry.New(nil), got...); err != nil {
		t.Fatalf("deduped registrations: %v", err)
	}
	// Every registration's key is kept exactly once: the count of distinct
	// keys, each kind counted apart.
	keys, kinds := map[string]bool{}, map[string]int{}
	for _, it := range append(all, again, v2) {
		kind, key, ok := registrationKey(it)
		if !ok {
			t.Fatalf("%v has no key", it)
		}
		if !keys[key] {
			keys[key] = true
			kinds[kind]++
		}
	}
	if len(got) != len(keys) || n.orchestrations != kinds["orchestration"] || n.activities != kinds["activity"] ||
		n.entities != kinds["entity"] || n.entities == 0 {
		t.Errorf("deduped to %d registrations %+v, want %d %v", len(got), n, len(keys), kinds)
	}
	if len(got) >= len(all)+2 || got[len(got)-1] != durable.Registrable(v2) {
		t.Errorf("the duplicates were not dropped, or the other version was")
	}
	for _, it := range got {
		if it == durable.Registrable(again) {
			t.Errorf("the case variant of HelloCities was kept")
		}
	}
	if got[0] != durable.Registrable(hellocities.HelloCities) {
		t.Errorf("the first of duplicates is not kept")
	}
}

// A worker whose credentials the storage account refuses exits at once
// with status 1 and one line that says what to check, for a wrong account
// key and for a bad SAS token.
func TestWorkerRefusedCredentials(t *testing.T) {
	e := azuritetest.Account(t).Endpoints()
	endpoints := fmt.Sprintf("BlobEndpoint=%s;QueueEndpoint=%s;TableEndpoint=%s", e.Blob, e.Queue, e.Table)
	badKey := fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;%s", storage.DevelopmentAccountName,
		base64.StdEncoding.EncodeToString([]byte("not the account key")), endpoints)
	badSAS := endpoints + ";SharedAccessSignature=sv=2022-11-02&ss=bqt&srt=sco&sp=rwdlacup&se=2099-01-01T00:00:00Z&spr=https,http&sig=bm90YXNpZw%3D%3D"
	for name, cs := range map[string]string{"account key": badKey, "SAS": badSAS} {
		code, out, errOut := run(t, "", "worker", "--conformance", "--connection-string", cs, "--task-hub", azuritetest.NewHub(t))
		if code != 1 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "403 ") ||
			!strings.Contains(errOut, "the storage account refused the credentials; check the account key, the SAS token") ||
			strings.Contains(errOut, "RESPONSE") || strings.Contains(errOut, "<?xml") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", name, code, out, errOut)
		}
	}
}
