package main

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/syncbuf"
)

// scrapeWorkerMetrics GETs the /metrics of a worker that has run
// HelloCities and checks that its counters moved.
func scrapeWorkerMetrics(t *testing.T, stderr *syncbuf.Buffer) {
	t.Helper()
	re := regexp.MustCompile(`metrics at (http://127\.0\.0\.1:\d+/metrics)\n`)
	m := re.FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no metrics line in\n%s", stderr)
	}
	want := []*regexp.Regexp{
		regexp.MustCompile(`(?m)^azdurable_episodes_total\{orchestration="HelloCities"\} [1-9]`),
		regexp.MustCompile(`(?m)^azdurable_activities_total\{activity="SayHello"\} [1-9]`),
		regexp.MustCompile(`(?m)^azdurable_activity_duration_seconds_count\{activity="SayHello"\} [1-9]`),
		regexp.MustCompile(`(?m)^azdurable_storage_calls_total\{category="control",operation="dequeue",service="queue"\} [1-9]`),
		regexp.MustCompile(`(?m)^azdurable_control_queue_depth\{partition="3"\} \d`),
		regexp.MustCompile(`(?m)^azdurable_partition_owned\{partition="0"\} 1`),
	}
	var text string
	azuritetest.WaitFor(t, 2*time.Minute, "the worker's metrics to show the run", func() (bool, error) {
		resp, err := http.Get(m[1])
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		text = string(b)
		for _, re := range want {
			if !re.MatchString(text) {
				return false, err
			}
		}
		return resp.StatusCode == 200 && strings.Contains(resp.Header.Get("Content-Type"), "text/plain"), err
	})
}
