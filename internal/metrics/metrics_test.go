package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/azdurable/azdurable/provider/azurestorage"
)

// scrape serves m on a loopback listener and GETs /metrics n times at once.
func scrape(t *testing.T, m *Metrics, n int) []string {
	t.Helper()
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: Mux(m.Handler(), ln.Addr())}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	out := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		// A scrape over the in-flight bound is answered 503 and tried again
		// until one is served, within a deadline.
		wg.Go(func() {
			deadline := time.Now().Add(time.Minute)
			for {
				resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				out[i] = string(b)
				if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
					return
				}
				<-time.After(10 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	return out
}

func TestNamesOutsideTheRegisteredSet(t *testing.T) {
	m, err := New(Options{Orchestrations: []string{"Chain"}, Activities: []string{"Add"}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.EpisodeDone("chain", time.Millisecond, true) // any case counts under the registered name
	m.EpisodeDone("Chain", time.Millisecond, false)
	m.EpisodeDone("attacker-chosen-1", time.Millisecond, true)
	m.ActivityDone("Add", time.Millisecond, true)
	m.ActivityDone("attacker-chosen-2", time.Millisecond, false)
	text := scrape(t, m, 1)[0]
	for _, want := range []string{
		`azdurable_episodes_total{orchestration="Chain"} 1`,
		`azdurable_episodes_total{orchestration="other"} 1`,
		`azdurable_episode_failures_total{orchestration="Chain"} 1`,
		`azdurable_activities_total{activity="Add"} 1`,
		`azdurable_activity_failures_total{activity="Add"} 1`,
		`azdurable_activities_total{activity="other"} 1`,
		`azdurable_episode_duration_seconds_count{orchestration="Chain"} 2`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %s in\n%s", want, text)
		}
	}
	if strings.Contains(text, "attacker") || strings.Contains(text, `orchestration="chain"`) {
		t.Errorf("a name outside the registered set became a label:\n%s", text)
	}
}

// A storm of scrapes reads the hub once per CacheFor; owner changes
// between reads are lease moves.
func TestHubReadsAreCachedAndLeaseMovesCounted(t *testing.T) {
	var reads atomic.Int64
	owner := atomic.Value{}
	owner.Store("w1")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	hub := func(context.Context) (*azurestorage.HubActivity, error) {
		reads.Add(1)
		t0 := *clock.Load()
		return &azurestorage.HubActivity{Partitions: []azurestorage.PartitionActivity{
			{Index: 0, Owner: owner.Load().(string), Depth: 3, Oldest: t0.Add(-90 * time.Second)},
			{Index: 1},
		}, WorkItemDepth: 2, Poisoned: 1}, nil
	}
	m, err := New(Options{Hub: hub, CacheFor: time.Minute, Now: func() time.Time { return *clock.Load() }})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	texts := scrape(t, m, 20)
	if n := reads.Load(); n != 1 {
		t.Errorf("20 scrapes read the hub %d times", n)
	}
	for _, want := range []string{
		`azdurable_control_queue_depth{partition="0"} 3`, `azdurable_control_queue_depth{partition="1"} 0`,
		`azdurable_control_queue_oldest_message_age_seconds{partition="0"} 90`,
		`azdurable_workitem_queue_depth 2`, `azdurable_poisoned_messages 1`,
		`azdurable_partition_owned{partition="0"} 1`, `azdurable_partition_owned{partition="1"} 0`,
		`azdurable_lease_moves_total 0`, `azdurable_hub_up 1`,
	} {
		if !strings.Contains(texts[0], want) {
			t.Errorf("no %s in\n%s", want, texts[0])
		}
	}
	owner.Store("w2")
	later := now.Add(2 * time.Minute)
	clock.Store(&later)
	text := scrape(t, m, 1)[0]
	if n := reads.Load(); n != 2 {
		t.Errorf("reads after the cache expired: %d", n)
	}
	if !strings.Contains(text, `azdurable_lease_moves_total 1`) {
		t.Errorf("no lease move:\n%s", text)
	}
}

// A failing hub is reported as down, and is not read again within CacheFor.
func TestHubDown(t *testing.T) {
	var reads atomic.Int64
	m, err := New(Options{Hub: func(context.Context) (*azurestorage.HubActivity, error) {
		reads.Add(1)
		return nil, errors.New("storage is down")
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	texts := scrape(t, m, 5)
	if !strings.Contains(texts[0], "azdurable_hub_up 0") {
		t.Errorf("hub_up:\n%s", texts[0])
	}
	if n := reads.Load(); n != 1 {
		t.Errorf("5 scrapes read a failing hub %d times", n)
	}
}

func TestListenDefaultsToLoopback(t *testing.T) {
	ln, err := Listen(":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
		t.Errorf("listening on %v", ln.Addr())
	}
	if _, err := Listen("no-port"); err == nil {
		t.Error("an address without a port was accepted")
	}
}

// A page whose DNS name was rebound to 127.0.0.1 cannot read the metrics
// of a loopback listener; localhost and loopback addresses can.
func TestLoopbackListenerChecksHost(t *testing.T) {
	m, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: Mux(m.Handler(), ln.Addr())}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	for host, want := range map[string]int{
		"evil.example:" + port: http.StatusMisdirectedRequest, "localhost:" + port: 200,
		"127.0.0.1:" + port: 200, "[::1]:" + port: 200, "LOCALHOST": 200,
	} {
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/metrics", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: %d, want %d", host, resp.StatusCode, want)
		}
	}
}
