package cli

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/syncbuf"
	"github.com/azdurable/azdurable/samples/hellocities"
)

// metricsURL waits for the metrics line serve or worker prints.
func metricsURL(t *testing.T, stderr *syncbuf.Buffer) string {
	t.Helper()
	re := regexp.MustCompile(`metrics at (http://127\.0\.0\.1:\d+/metrics)\n`)
	var url string
	azuritetest.WaitFor(t, 2*time.Minute, "the metrics listener", func() (bool, error) {
		m := re.FindStringSubmatch(stderr.String())
		if m != nil {
			url = m[1]
		}
		return m != nil, nil
	})
	return url
}

// sample finds a sample's value in Prometheus text ("" when absent): the
// line that starts with name and carries every label pair given.
func sample(text, name string, labels ...string) string {
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if ok {
			return line[strings.LastIndexByte(line, ' ')+1:]
		}
	}
	return ""
}

func positive(v string) bool {
	f, err := strconv.ParseFloat(v, 64)
	return err == nil && f > 0
}

// TestServeWorkerMetrics runs serve with a worker on Azurite, runs a few
// orchestrations and scrapes /metrics with a real GET.
func TestServeWorkerMetrics(t *testing.T) {
	e := newHubEnv(t, false)
	_, _, stderr := startServe(t, append([]string{"--worker", "--metrics-listen", "127.0.0.1:0"}, e.args...)...)
	url := metricsURL(t, stderr)
	for i := range 3 {
		run, err := client.Start(e.ctx, e.c, hellocities.HelloCities, "", client.WithInstanceID("metrics-"+strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := run.Get(e.ctx); err != nil {
			t.Fatal(err)
		}
	}
	var text string
	azuritetest.WaitFor(t, 2*time.Minute, "the counters to show the runs", func() (bool, error) {
		code, body := httpDo(t, "GET", url, "", "")
		text = body
		return code == 200 && positive(sample(text, "azdurable_episodes_total", `orchestration="HelloCities"`)) &&
			positive(sample(text, "azdurable_activities_total", `activity="SayHello"`)), nil
	})
	for _, name := range []string{
		"azdurable_episode_duration_seconds_bucket", "azdurable_episode_duration_seconds_count",
		"azdurable_activity_duration_seconds_count",
		"azdurable_control_queue_depth", "azdurable_control_queue_oldest_message_age_seconds",
		"azdurable_workitem_queue_depth", "azdurable_workitem_queue_oldest_message_age_seconds",
		"azdurable_poisoned_messages", "azdurable_partition_owned", "azdurable_lease_moves_total", "azdurable_hub_up",
	} {
		if sample(text, name) == "" {
			t.Errorf("no %s in\n%s", name, text)
		}
	}
	if !positive(sample(text, "azdurable_storage_calls_total", `service="queue"`, `category="control"`, `operation="dequeue"`)) {
		t.Errorf("no control-queue dequeues counted:\n%s", text)
	}
	if v := sample(text, "azdurable_hub_up"); v != "1" {
		t.Errorf("hub_up %q", v)
	}
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "#") && line != "" && !strings.HasPrefix(line, "azdurable_") {
			t.Errorf("a metric without the prefix: %s", line)
		}
		if strings.Contains(line, "metrics-0") {
			t.Errorf("an instance id became a label: %s", line)
		}
	}
	if code, _ := httpDo(t, "POST", url, "", ""); code == 200 {
		t.Errorf("POST /metrics answered 200")
	}
	if code, _ := httpDo(t, "GET", strings.TrimSuffix(url, "/metrics")+"/", "", ""); code != 404 {
		t.Errorf("GET / answered %d", code)
	}
}

// TestServeHubMetrics: serve without a worker still exports the hub's
// gauges, one per partition.
func TestServeHubMetrics(t *testing.T) {
	e := newHubEnv(t, false)
	// The hub exists once an instance was started.
	if _, err := client.Start(context.Background(), e.c, hellocities.HelloCities, ""); err != nil {
		t.Fatal(err)
	}
	_, _, stderr := startServe(t, append([]string{"--metrics-listen", "127.0.0.1:0"}, e.args...)...)
	url := metricsURL(t, stderr)
	code, text := httpDo(t, "GET", url, "", "")
	if code != 200 {
		t.Fatalf("GET %s: %d %s", url, code, text)
	}
	for p := range 4 {
		if sample(text, "azdurable_control_queue_depth", `partition="`+strconv.Itoa(p)+`"`) == "" {
			t.Errorf("no depth of partition %d in\n%s", p, text)
		}
	}
	if v := sample(text, "azdurable_workitem_queue_depth"); v != "0" {
		t.Errorf("workitem_queue_depth %q", v)
	}
	if v := sample(text, "azdurable_hub_up"); v != "1" {
		t.Errorf("hub_up %q", v)
	}
	if strings.Contains(text, "azdurable_episodes_total") {
		t.Errorf("episodes without a worker:\n%s", text)
	}
}

// A bad --metrics-listen fails the command before it touches storage.
func TestMetricsListenUsage(t *testing.T) {
	for _, cmd := range []string{"worker", "serve"} {
		code, _, errOut := run(t, "", cmd, "--task-hub", "SomeHub", "--metrics-listen", "no-port",
			"--connection-string", "DefaultEndpointsProtocol=http;AccountName=x;AccountKey=eA==;QueueEndpoint=http://127.0.0.1:1/x")
		if code != 2 || !strings.Contains(errOut, "--metrics-listen") {
			t.Errorf("%s: exit %d %q", cmd, code, errOut)
		}
	}
}
