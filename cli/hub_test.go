package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/taskhub"
	"github.com/azdurable/azdurable/partition"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/worker"
)

// hubCLI runs "azdurable hub <args>" on hub with the harness's storage.
func hubCLI(t *testing.T, hub, stdin string, args ...string) (int, string, string) {
	t.Helper()
	args = append(append([]string{"hub"}, args...), "--connection-string", azuritetest.ConnectionString(t), "--task-hub", hub)
	return run(t, stdin, args...)
}

func hubInfoJSON(t *testing.T, hub string) hubReport {
	t.Helper()
	code, out, errOut := hubCLI(t, hub, "", "info", "--json")
	if code != 0 {
		t.Fatalf("hub info --json: exit %d: %s", code, errOut)
	}
	var r hubReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("hub info --json is not JSON: %v\n%s", err, out)
	}
	return r
}

func TestHubCreateInfoDelete(t *testing.T) {
	hub := azuritetest.NewHub(t)
	acct := azuritetest.Account(t)
	ctx := context.Background()
	names, _ := taskhub.NewNames(hub)
	for i := 0; i < 2; i++ { // idempotent
		code, out, errOut := hubCLI(t, hub, "", "create")
		if code != 0 || out != "task hub "+hub+" is ready: 4 partitions, table partition manager\n" {
			t.Fatalf("create #%d: exit %d, %q %q", i+1, code, out, errOut)
		}
	}
	res, err := azuritetest.ListHub(ctx, acct, hub)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Queues) != 5 || len(res.Tables) != 3 || len(res.Containers) != 1 {
		t.Errorf("after create: %+v", res)
	}

	// A message on a control queue shows in the depths.
	be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: acct, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	id, err := client.New(be, client.Options{}).ScheduleNew(ctx, "HelloCities", "x")
	if err != nil {
		t.Fatal(err)
	}
	r := hubInfoJSON(t, hub)
	depth := map[string]int{}
	for _, q := range r.Queues {
		depth[q.Name] = q.Messages
	}
	want := names.ControlQueue(taskhub.PartitionIndex(id, 4))
	if r.TaskHub != hub || r.Partitions != 4 || r.PartitionManager != "table" || len(r.Queues) != 5 || depth[want] != 1 || depth[names.WorkItemQueue()] != 0 {
		t.Errorf("info: %+v", r)
	}
	if len(r.Owners) != 4 || r.Owners[0].Partition != names.ControlQueue(0) || r.Owners[0].Owner != "" || r.AppLease.OwnerID != "" {
		t.Errorf("owners of a hub without workers: %+v, app lease %+v", r.Owners, r.AppLease)
	}
	code, out, _ := hubCLI(t, hub, "", "info")
	for _, s := range []string{"partitions   4 (table partition manager)", want + "   1", "app lease    nobody", "PARTITION "} {
		if code != 0 || !strings.Contains(out, s) {
			t.Errorf("info table lacks %q:\n%s", s, out)
		}
	}

	// Deletion needs the hub's name.
	for stdin, wantErr := range map[string]string{
		"":               "no confirmation on standard input",
		"yes\n":          `"yes" is not the task hub name`,
		" " + hub + "x ": `is not the task hub name`,
	} {
		code, out, errOut := hubCLI(t, hub, stdin, "delete")
		if code != 2 || strings.Contains(out, "deleted") || !strings.Contains(errOut, "type the task hub name to confirm") || !strings.Contains(errOut, wantErr) {
			t.Errorf("delete with %q: exit %d, %q %q", stdin, code, out, errOut)
		}
	}
	if res, _ := azuritetest.ListHub(ctx, acct, hub); len(res.Tables) != 3 {
		t.Fatalf("an unconfirmed delete deleted: %+v", res)
	}
	if code, out, errOut := hubCLI(t, hub, hub+"\n", "delete"); code != 0 || out != "deleted task hub "+hub+"\n" {
		t.Fatalf("confirmed delete: exit %d, %q %q", code, out, errOut)
	}
	if res, err := azuritetest.ListHub(ctx, acct, hub); err != nil || !res.Empty() {
		t.Errorf("left after delete: %+v %v", res, err)
	}
	if code, _, errOut := hubCLI(t, hub, "", "info"); code != 1 || !strings.Contains(errOut, "does not exist") {
		t.Errorf("info of a deleted hub: exit %d %q", code, errOut)
	}
	if code, _, errOut := hubCLI(t, hub, "", "delete", "--yes"); code != 0 {
		t.Errorf("delete --yes of a deleted hub: exit %d %q", code, errOut)
	}
}

func TestHubPartitionCountMismatch(t *testing.T) {
	hub := azuritetest.NewHub(t)
	acct := azuritetest.Account(t)
	if code, _, errOut := hubCLI(t, hub, "", "create"); code != 0 {
		t.Fatal(errOut)
	}
	msg := "task hub \"" + hub + "\" has 4 partitions, but 8 are configured"
	for _, args := range [][]string{{"create", "--partitions", "8"}, {"info", "--partitions", "8"}} {
		code, out, errOut := hubCLI(t, hub, "", args...)
		if code != 1 || out != "" || !strings.Contains(errOut, msg) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, %q %q", args, code, out, errOut)
		}
	}
	// The refused create changed nothing.
	svc, _ := acct.TableService(nil)
	names, _ := taskhub.NewNames(hub)
	if n, err := partition.CountRows(context.Background(), svc, names.TaskHub()); err != nil || n != 4 {
		t.Errorf("partition rows after the refused create: %d %v", n, err)
	}
	if res, _ := azuritetest.ListHub(context.Background(), acct, hub); len(res.Queues) != 5 {
		t.Errorf("queues after the refused create: %v", res.Queues)
	}
	// So does a worker.
	code, _, errOut := run(t, "", "worker", "--conformance", "--partitions", "2", "--connection-string", azuritetest.ConnectionString(t), "--task-hub", hub)
	if code != 1 || !strings.Contains(errOut, "has 4 partitions, but 2 are configured") {
		t.Errorf("worker: exit %d %q", code, errOut)
	}
}

func TestHubInfoOwners(t *testing.T) {
	hub := azuritetest.NewHub(t)
	be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: azuritetest.Account(t), Partitions: 2,
		WorkerID: "info-worker", AppName: "infoapp", Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	// The app lease outlives the worker (as in C#); DeleteTaskHub breaks it.
	t.Cleanup(func() { _ = be.DeleteTaskHub(context.Background()) })
	w := worker.New(be, worker.Options{Logger: quietLog(), ShutdownTimeout: 5 * time.Second})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { stop(); <-done }()
	var r hubReport
	azuritetest.WaitFor(t, 3*time.Minute, "hub info shows the worker's partitions and app lease", func() (bool, error) {
		code, out, _ := hubCLI(t, hub, "", "info", "--json")
		if code != 0 { // the worker has not created the hub yet
			return false, nil
		}
		r = hubReport{}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			return false, err
		}
		for _, o := range r.Owners {
			if o.Owner != "info-worker" || o.ExpiresAt == nil || o.Expired {
				return false, nil
			}
		}
		return len(r.Owners) == 2 && r.AppLease.OwnerID == partition.LeaseIDForApp("infoapp"), nil
	})
	code, out, _ := hubCLI(t, hub, "", "info", "--partitions", "2")
	if code != 0 || strings.Count(out, "info-worker") != 2 || !strings.Contains(out, "owner "+partition.LeaseIDForApp("infoapp")) {
		t.Errorf("info table:\n%s", out)
	}
}

func TestHubUsage(t *testing.T) {
	t.Setenv(EnvConnectionString, "")
	t.Setenv(EnvTaskHub, "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"hub", "info", "--task-hub", "SomeHub"}, "no storage given: use --connection-string, set AZURE_STORAGE_CONNECTION_STRING, use --account"},
		{[]string{"hub", "create"}, "--task-hub is required"},
		{[]string{"hub", "delete", "--task-hub", "a-b", "--yes"}, "invalid task hub name"},
		{[]string{"hub", "create", "--task-hub", "SomeHub", "--partitions", "17"}, "partition"},
		{[]string{"hub", "create", "--task-hub", "SomeHub", "--partition-manager", "blob"}, "--partition-manager must be table or safe"},
	} {
		code, out, errOut := run(t, "", tc.args...)
		if code != 2 || out != "" || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, %q %q", tc.args, code, out, errOut)
		}
	}
}

func TestHubSafeLeases(t *testing.T) {
	hub := azuritetest.NewHub(t)
	if code, out, errOut := hubCLI(t, hub, "", "create", "--partition-manager", "safe", "--partitions", "2"); code != 0 || !strings.Contains(out, "safe partition manager") {
		t.Fatalf("create: exit %d, %q %q", code, out, errOut)
	}
	r := hubInfoJSON(t, hub)
	if r.PartitionManager != "safe" || r.Partitions != 2 || len(r.Owners) != 2 {
		t.Fatalf("info: %+v", r)
	}
	for _, o := range r.Owners {
		if o.Owner != "" || o.Leased == nil || *o.Leased || o.Epoch == nil {
			t.Errorf("lease of a hub without workers: %+v", o)
		}
	}
}

// hub info names the app that holds the app lease when its name is one it
// can check (the default app name here, "", and --app-name), and says
// whether the lease is held now.
func TestHubInfoAppLeaseHolder(t *testing.T) {
	t.Setenv("WEBSITE_SITE_NAME", "")
	t.Setenv("DTFX_APP_NAME", "")
	hub := azuritetest.NewHub(t)
	acct := azuritetest.Account(t)
	be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: acct, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.DeleteTaskHub(context.Background()) }) // breaks the app lease
	if code, _, errOut := hubCLI(t, hub, "", "create"); code != 0 {
		t.Fatal(errOut)
	}
	held, err := partition.NewAppLease(acct, be.Resources().TaskHub, "cscapture", partition.AppLeaseOptions{Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Stop()
	if ok, err := held.TryAcquire(t.Context()); !ok || err != nil {
		t.Fatalf("taking the app lease as cscapture: %v %v", ok, err)
	}
	id := partition.LeaseIDForApp("cscapture")
	for _, tc := range []struct {
		env  string
		args []string
		want string
	}{
		{"", nil, "app lease    owner " + id + ` (an app not named ""; check a name with --app-name), held now`},
		{"", []string{"--app-name", "other", "--app-name", "cscapture"}, "app lease    owner " + id + ` (app "cscapture"), held now`},
		{"cscapture", nil, "app lease    owner " + id + ` (app "cscapture"), held now`},
	} {
		t.Setenv("DTFX_APP_NAME", tc.env)
		code, out, errOut := hubCLI(t, hub, "", append([]string{"info"}, tc.args...)...)
		if code != 0 || !strings.Contains(out, tc.want+"\n") {
			t.Errorf("DTFX_APP_NAME=%q hub info %v: exit %d %s\n%s\nwant the line %q", tc.env, tc.args, code, errOut, out, tc.want)
		}
	}
	t.Setenv("DTFX_APP_NAME", "")
	code, out, errOut := hubCLI(t, hub, "", "info", "--json", "--app-name", "cscapture")
	var r hubReport
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil {
		t.Fatalf("hub info --json: exit %d %s %s", code, out, errOut)
	}
	if l := r.AppLease; l.OwnerID != id || l.OwnerAppName == nil || *l.OwnerAppName != "cscapture" || l.Held == nil || !*l.Held ||
		strings.Join(l.Checked, ",") != ",cscapture" {
		t.Errorf("app lease in JSON: %+v", l)
	}
	// Once the holder released it, the lease is shown as not held.
	if err := held.Release(t.Context()); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := hubCLI(t, hub, "", "info", "--app-name", "cscapture"); code != 0 ||
		!strings.Contains(out, `(app "cscapture"), not held now (expired or released)`) {
		t.Errorf("after the release:\n%s", out)
	}
}
