package azurite

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/azdurable/azdurable/storage"
)

func startAzurite(t *testing.T, opts Options) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*StartTimeout)
	defer cancel()
	s, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s
}

func queueService(t *testing.T, s *Server) *azqueue.ServiceClient {
	t.Helper()
	acct, err := storage.ParseConnectionString(s.ConnectionString())
	if err != nil {
		t.Fatal(err)
	}
	q, err := acct.QueueService(nil)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestStartServesAndStopEnds(t *testing.T) {
	t.Parallel()
	s := startAzurite(t, Options{})

	e := s.Endpoints()
	for _, u := range []string{e.Blob, e.Queue, e.Table} {
		if !strings.HasPrefix(u, "http://127.0.0.1:") || !strings.HasSuffix(u, "/devstoreaccount1") {
			t.Errorf("endpoint %q is not a loopback devstoreaccount1 URL", u)
		}
	}
	if !strings.Contains(s.ConnectionString(), "QueueEndpoint="+e.Queue) {
		t.Errorf("connection string does not name the queue endpoint")
	}

	ctx := t.Context()
	q := queueService(t, s)
	if _, err := q.CreateQueue(ctx, "probe", nil); err != nil {
		t.Fatalf("CreateQueue: %v", err)
	}

	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case <-s.Done():
	default:
		t.Fatal("Done not closed after Stop returned")
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	// The ports are free again: nothing of Azurite is left listening.
	for _, u := range []string{e.Blob, e.Queue, e.Table} {
		hostPort := strings.TrimSuffix(strings.TrimPrefix(u, "http://"), "/devstoreaccount1")
		l, err := net.Listen("tcp", hostPort)
		if err != nil {
			t.Errorf("port of %s still taken after Stop: %v", u, err)
			continue
		}
		l.Close()
	}
}

// TestLocationSurvivesRestart checks the on-disk mode that snapshots and the
// demo rely on: Stop must let Azurite save, and a new Azurite on the same
// folder must see the data.
func TestLocationSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	ctx := t.Context()

	first, err := Start(ctx, Options{Location: dir})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	q := queueService(t, first).NewQueueClient("persisted")
	if _, err := q.Create(ctx, nil); err != nil {
		first.Stop()
		t.Fatalf("Create: %v", err)
	}
	if _, err := q.EnqueueMessage(ctx, "kept across restarts", nil); err != nil {
		first.Stop()
		t.Fatalf("Enqueue: %v", err)
	}
	if err := first.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) == 0 {
		t.Fatalf("Azurite wrote nothing to %s", dir)
	}

	second := startAzurite(t, Options{Location: dir})
	resp, err := queueService(t, second).NewQueueClient("persisted").PeekMessages(ctx, nil)
	if err != nil {
		t.Fatalf("Peek after restart: %v", err)
	}
	if len(resp.Messages) != 1 || resp.Messages[0].MessageText == nil || *resp.Messages[0].MessageText != "kept across restarts" {
		t.Fatalf("after restart the queue holds %d messages, want the one enqueued before", len(resp.Messages))
	}
}

// TestStartReportsTakenPort gives Azurite a port that is in use; the error
// must say so with Azurite's own words, quickly, and without retrying a port
// the caller chose.
func TestStartReportsTakenPort(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port

	began := time.Now()
	s, err := Start(t.Context(), Options{QueuePort: taken, BlobPort: freePort(t), TablePort: freePort(t)})
	if err == nil {
		s.Stop()
		t.Fatal("Start succeeded on a taken port")
	}
	if !errors.Is(err, errPortInUse) {
		t.Errorf("error is not a port collision: %v", err)
	}
	if !strings.Contains(err.Error(), "EADDRINUSE") || !strings.Contains(err.Error(), strconv.Itoa(taken)) {
		t.Errorf("error lacks Azurite's output about port %d: %v", taken, err)
	}
	if d := time.Since(began); d > StartTimeout/2 {
		t.Errorf("failure took %v; an early exit should be noticed at once", d)
	}
}

func TestStartCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if s, err := Start(ctx, Options{}); err == nil {
		s.Stop()
		t.Fatal("Start with a canceled context succeeded")
	} else if !errors.Is(err, context.Canceled) {
		t.Errorf("error does not wrap context.Canceled: %v", err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	p, err := choosePorts(0, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	return p.blob
}

func TestChoosePortsDistinct(t *testing.T) {
	p, err := choosePorts(0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.blob == p.queue || p.queue == p.table || p.blob == p.table {
		t.Errorf("ports not distinct: %+v", p)
	}
	if p, _ := choosePorts(1, 2, 3); p != (ports{1, 2, 3}) {
		t.Errorf("explicit ports changed: %+v", p)
	}
}

func TestTailKeepsEnd(t *testing.T) {
	var tl tail
	for i := range 5 * tailSize / 10 {
		tl.Write([]byte(strconv.Itoa(i%10) + "abcdefghi"[:9]))
	}
	tl.Write([]byte("END"))
	got := tl.String()
	if len(got) != tailSize || !strings.HasSuffix(got, "END") {
		t.Errorf("tail length %d, suffix %q", len(got), got[len(got)-3:])
	}
}
