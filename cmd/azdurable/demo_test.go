package main

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/azdurable/azdurable/cli"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/samples/indexing"
)

// TestDemo runs `azdurable demo` (what make demo runs) on the harness's
// Azurite: every sample must complete with its expected output, and the
// indexing summary must be saved in the hub's samples container.
func TestDemo(t *testing.T) {
	hub := azuritetest.NewHub(t)
	acct := azuritetest.Account(t)
	t.Cleanup(func() { // the app lease outlives the worker; DeleteTaskHub breaks it
		if be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: acct, Logger: quietLog()}); err == nil {
			_ = be.DeleteTaskHub(context.Background())
		}
	})
	code, out, errOut := run(t, "", "demo", "--connection-string", azuritetest.ConnectionString(t), "--task-hub", hub, "--timeout", "5m")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	want := map[string]string{ // instance id prefix → status and output
		"hello-":            `Completed ["Hello Tokyo!","Hello Seattle!","Hello London!"]`,
		"indexing-contoso-": `Completed {"api-gateway":12,"billing":3,"docs":0,"frontend":27,"infra":5,"mobile":9,"search":14,"telemetry":2}`,
		"order-1001-":       `Completed {"orderId":"1001","status":"shipped","charge":"charge-1001","shipment":"shipment-1001"}`,
		"order-1002-":       `Completed {"orderId":"1002","status":"refunded","charge":"charge-1002","refund":"refund-of-charge-1002","reason":"no carrier accepts the shipment"}`,
		"approval-r1-":      `Completed {"requestId":"r1","status":"approved","by":"demo"}`,
		"monitor-j1-":       `Completed {"jobId":"j1","status":"ready","checks":2}`,
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(want)+1 || !strings.HasPrefix(lines[0], "INSTANCE") {
		t.Fatalf("output:\n%s", out)
	}
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) < 4 {
			t.Errorf("line %q", line)
			continue
		}
		prefix := f[0][:strings.LastIndex(f[0], "-")+1]
		if got := f[2] + " " + strings.Join(f[3:], " "); got != want[prefix] {
			t.Errorf("%s: %s\nwant %s", f[0], got, want[prefix])
		}
		delete(want, prefix)
	}
	if len(want) != 0 {
		t.Errorf("missing instances %v in\n%s", want, out)
	}
	for _, s := range []string{"raised the Approval event", "6 instances completed", "released its partitions"} {
		if !strings.Contains(errOut, s) {
			t.Errorf("stderr lacks %q:\n%s", s, errOut)
		}
	}

	// The summary went to the hub's samples container.
	bs, _ := acct.BlobService(nil)
	resp, err := bs.DownloadStream(context.Background(), cli.SamplesContainer(hub), indexing.SummaryBlobName("contoso"), nil)
	if err != nil {
		t.Fatalf("summary blob: %v", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var s indexing.Summary
	if err := json.Unmarshal(data, &s); err != nil || s.OpenIssues != 72 || s.Repositories != 8 || *resp.ContentType != "application/json" {
		t.Errorf("summary %s: %+v %v", data, s, err)
	}
}
