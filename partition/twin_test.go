package partition

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/syncbuf"
	"github.com/azdurable/azdurable/internal/taskhub"
)

// Two live table managers with the same worker id both warn that another
// process uses their id; a manager that takes over the rows a stopped
// predecessor with the same id left behind does not.
func TestTableManagerWarnsOfASharedWorkerID(t *testing.T) {
	acct := azuritetest.Account(t)
	names := taskhub.MustNames(azuritetest.NewHub(t))
	svc, err := acct.TableService(nil)
	if err != nil {
		t.Fatal(err)
	}
	start := func(id string) (*TableManager, *syncbuf.Buffer) {
		t.Helper()
		logs := &syncbuf.Buffer{}
		o := fastTable(id, 2)
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
		m, err := NewTableManager(acct, names.TaskHub(), o)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Start(t.Context(), (&timeline{}).listener(id)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = m.Stop(ctx)
		})
		return m, logs
	}
	// renewals waits until the rows were renewed n more times.
	renewals := func(n int) {
		t.Helper()
		rows, err := ReadTable(t.Context(), svc, names.TaskHub())
		if err != nil || len(rows) != 2 {
			t.Fatalf("rows %v %v", rows, err)
		}
		last := rows[0].LastRenewal
		for i := 0; i < n; i++ {
			azuritetest.WaitFor(t, 2*time.Minute, "a renewal", func() (bool, error) {
				rows, err := ReadTable(t.Context(), svc, names.TaskHub())
				if err != nil || len(rows) != 2 || !rows[0].LastRenewal.After(last) {
					return false, nil
				}
				last = rows[0].LastRenewal
				return true, nil
			})
		}
	}

	// A predecessor owns both partitions and stops without releasing them
	// (a crash); its successor with the same id resumes them quietly.
	first, _ := start("same-id")
	azuritetest.WaitFor(t, 2*time.Minute, "the first manager to own both partitions", func() (bool, error) {
		return len(first.Owned()) == 2, nil
	})
	expired, cancel := context.WithCancel(context.Background())
	cancel()
	_ = first.Stop(expired)
	second, secondLogs := start("same-id")
	azuritetest.WaitFor(t, 2*time.Minute, "the successor to own both partitions", func() (bool, error) {
		return len(second.Owned()) == 2, nil
	})
	renewals(4)
	if second.twins.twins() != 0 || strings.Contains(secondLogs.String(), "another live process uses this worker id") {
		t.Fatalf("a successor of a stopped process warned of a shared id:\n%s", secondLogs)
	}

	// A third live process with the same id: both warn.
	third, thirdLogs := start("same-id")
	azuritetest.WaitFor(t, 2*time.Minute, "both managers to see the other", func() (bool, error) {
		return second.twins.twins() > 0 && third.twins.twins() > 0, nil
	})
	for name, logs := range map[string]*syncbuf.Buffer{"second": secondLogs, "third": thirdLogs} {
		if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "another live process uses this worker id") ||
			!strings.Contains(l, "--worker-id") || !strings.Contains(l, "worker_id=same-id") {
			t.Errorf("the %s manager's log:\n%s", name, l)
		}
	}
}
