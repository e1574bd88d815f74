package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/queues"
	"github.com/spf13/cobra"
)

// `instances show` says why an instance does not move: a Pending instance
// of an orchestration the worker does not host shows the reason as its
// custom status and as stalled work, and its quarantined messages are
// listed, in the human view and in --json. An id without a status row but
// with quarantined messages is reported not found, with its messages.
func TestShowListsStalledWorkAndQuarantinedMessages(t *testing.T) {
	e := newHubEnv(t, true)
	e.ok("start", "Helo", "--id", "typo-1", "--input", `"x"`)
	azuritetest.WaitFor(e.t, 2*time.Minute, "the reason on the Pending row", func() (bool, error) {
		st, err := e.c.GetState(e.ctx, "typo-1")
		return err == nil && strings.Contains(*orEmpty(&st.CustomStatus), `orchestration \"Helo\" is not registered`), nil
	})
	be, err := azurestorage.New(azurestorage.Options{TaskHub: e.hub, Account: azuritetest.Account(t), Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	qs, _ := azuritetest.Account(t).QueueService(nil)
	bad := map[string]string{}
	for _, id := range []string{"typo-1", "ghost"} {
		q := queues.NewQueue(qs, be.Resources().ControlQueues[azurestorage.PartitionIndex(id, azurestorage.DefaultPartitions)], nil)
		body := `{"TaskMessage":{"Event":{"EventType":99},"OrchestrationInstance":{"InstanceId":"` + id + `"}}}`
		sent, err := q.Send(e.ctx, body, 0)
		if err != nil {
			t.Fatal(err)
		}
		bad[id] = sent.ID
	}
	azuritetest.WaitFor(e.t, 2*time.Minute, "the bad messages to be quarantined", func() (bool, error) {
		n := 0
		for id := range bad {
			d, err := be.Diagnostics(e.ctx, id)
			if err != nil {
				return false, err
			}
			n += len(d.Quarantined)
		}
		return n == 2, nil
	})

	out := e.ok("show", "typo-1")
	for _, want := range []string{"Status:", "Pending", `azdurable: not started: orchestration \"Helo\" is not registered on this worker`,
		"Waiting for:", "given back by worker ", "Quarantined messages", "cannot be decoded", "message " + bad["typo-1"],
		strings.ToLower(e.hub) + "-poison/instances/typo-1/quarantined/"} {
		if !strings.Contains(out, want) {
			t.Errorf("show does not say %q:\n%s", want, out)
		}
	}
	var obj struct {
		RuntimeStatus       string                 `json:"runtimeStatus"`
		StalledWork         []provider.Stalled     `json:"stalledWork"`
		QuarantinedMessages []provider.Quarantined `json:"quarantinedMessages"`
	}
	js := e.ok("show", "typo-1", "--json")
	if err := json.Unmarshal([]byte(js), &obj); err != nil {
		t.Fatalf("%v: %s", err, js)
	}
	if obj.RuntimeStatus != "Pending" || len(obj.StalledWork) != 1 || obj.StalledWork[0].Name != "Helo" ||
		len(obj.QuarantinedMessages) != 1 || obj.QuarantinedMessages[0].MessageID != bad["typo-1"] ||
		!strings.Contains(obj.QuarantinedMessages[0].Body, `"EventType":99`) {
		t.Errorf("show --json: %s", js)
	}
	code, out, errOut := e.cli("", "show", "ghost")
	if code != 1 || !strings.Contains(errOut, `instance "ghost" not found`) || !strings.Contains(out, "message "+bad["ghost"]) {
		t.Errorf("show ghost: exit %d, %q %q", code, out, errOut)
	}
	// An instance without diagnostics prints the HTTP API's object alone.
	e.ok("start", "HelloCities", "--id", "plain", "--input", `"x"`)
	if js := e.ok("show", "plain", "--json"); strings.Contains(js, "stalledWork") || strings.Contains(js, "quarantinedMessages") {
		t.Errorf("show --json of a plain instance: %s", js)
	}
}

func orEmpty(p **string) *string {
	if *p == nil {
		s := ""
		return &s
	}
	return *p
}

// --max-dequeue-count reaches the backend: 0 turns quarantine off, a
// negative count is a usage error.
func TestMaxDequeueCountFlag(t *testing.T) {
	limit := func(args ...string) (int, error) {
		t.Helper()
		cmd := &cobra.Command{Use: "worker"}
		h := addHostFlags(cmd)
		if err := cmd.ParseFlags(args); err != nil {
			t.Fatal(err)
		}
		adjust, _, err := h.settings(cmd)
		if err != nil {
			return 0, err
		}
		var o azurestorage.Options
		adjust(&o)
		return o.MaxDequeueCount, nil
	}
	for _, tc := range []struct {
		args []string
		want int
	}{{nil, provider.DefaultMaxDequeueCount}, {[]string{"--max-dequeue-count", "3"}, 3}, {[]string{"--max-dequeue-count", "0"}, -1}} {
		if got, err := limit(tc.args...); err != nil || got != tc.want {
			t.Errorf("%v: MaxDequeueCount %d (%v), want %d", tc.args, got, err, tc.want)
		}
	}
	if _, err := limit("--max-dequeue-count", "-1"); err == nil || !strings.Contains(err.Error(), "--max-dequeue-count") {
		t.Errorf("a negative count: %v", err)
	}
}
