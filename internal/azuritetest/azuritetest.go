// Package azuritetest gives storage tests a real account to talk to: an
// Azurite started once per test binary, or the account named by
// $AZDURABLE_TEST_STORAGE.
//
// Design note. Every test package that touches storage calls [Main] from
// TestMain and asks [Account] for the account. Azurite is started lazily, on
// the first Account call, so a package whose selected tests need no storage
// never starts node; it is stopped by Main after the tests. Tests isolate
// themselves by task hub rather than by emulator: [NewHub] returns a fresh
// hub name and deletes everything named after it when the test ends, so one
// Azurite (or one real account) serves a whole binary, parallel tests
// included. A missing Azurite fails the test with instructions; it never
// skips, because a skipped storage test is a test that silently stopped
// running.
package azuritetest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/azdurable/azdurable/internal/azurite"
	"github.com/azdurable/azdurable/storage"
)

// EnvStorage names the environment variable holding a connection string to
// test against instead of a harness-started Azurite: a real account, or an
// Azurite that is already running (for example from `make azurite`).
const EnvStorage = "AZDURABLE_TEST_STORAGE"

// cleanupTimeout bounds the deletion NewHub registers; a real account can
// be slow, and a hung cleanup must not hang the binary.
const cleanupTimeout = 2 * time.Minute

var (
	mainCalled atomic.Bool

	setupOnce sync.Once
	shared    struct {
		account *storage.Account
		connStr string
		server  *azurite.Server // nil when EnvStorage is used
		err     error
	}
)

// Main runs the tests and then stops the Azurite that [Account] started, if
// any, and exits with m.Run's code. Call it from TestMain:
//
//	func TestMain(m *testing.M) { azuritetest.Main(m) }
func Main(m *testing.M) {
	mainCalled.Store(true)
	code := m.Run()
	if srv := shared.server; srv != nil {
		if err := srv.Stop(); err != nil {
			// Azurite dying during the run is a fault worth a red build even
			// if no test noticed.
			fmt.Fprintf(os.Stderr, "azuritetest: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

func setup() {
	if cs := os.Getenv(EnvStorage); cs != "" {
		acct, err := storage.ParseConnectionString(cs)
		if err != nil {
			// Parse errors never contain the value, so this is safe to print.
			shared.err = fmt.Errorf("$%s is set but is not a usable connection string: %w", EnvStorage, err)
			return
		}
		shared.account, shared.connStr = acct, cs
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*azurite.StartTimeout)
	defer cancel()
	srv, err := azurite.Start(ctx, azurite.Options{})
	if err != nil {
		shared.err = fmt.Errorf("%w\n\nazuritetest needs Azurite to run storage tests. To fix: from the repository root run \"make tools\" (npm ci --prefix tools/azurite; needs Node 20 and npm), or set %s to an azurite executable, or set $%s to a storage connection string",
			err, azurite.EnvExecutable, EnvStorage)
		return
	}
	acct, err := storage.ParseConnectionString(srv.ConnectionString())
	if err != nil {
		_ = srv.Stop()
		shared.err = err
		return
	}
	shared.account, shared.connStr, shared.server = acct, srv.ConnectionString(), srv
}

func ensure(t testing.TB) {
	t.Helper()
	if !mainCalled.Load() {
		t.Fatal("azuritetest: call azuritetest.Main(m) from TestMain in this package, so the shared Azurite is stopped after the tests")
	}
	setupOnce.Do(setup)
	if shared.err != nil {
		t.Fatalf("azuritetest: %v", shared.err)
	}
}

// Account returns the storage account shared by all tests in the binary:
// from $AZDURABLE_TEST_STORAGE if set, else an in-memory Azurite on free
// loopback ports, started on first use. If neither is available the test
// fails with a message that says how to fix it.
func Account(t testing.TB) *storage.Account {
	t.Helper()
	ensure(t)
	return shared.account
}

// ConnectionString returns the connection string of [Account], for code
// under test that takes one (the CLI, C# interop). It contains a key: never
// log it.
func ConnectionString(t testing.TB) string {
	t.Helper()
	ensure(t)
	return shared.connStr
}

// NewHub returns a fresh task hub name — "T" followed by 12 lowercase
// letters and digits, which satisfies the hub rules (letters and digits,
// starting with a letter, 3 to 45 characters) — and registers a cleanup that
// deletes every queue and blob container whose name starts with
// lower(hub)+"-" and every table whose name starts with hub. All names have
// the same length, so one hub's names are never a prefix of another's and
// parallel tests cannot clean up each other's resources.
func NewHub(t testing.TB) string {
	t.Helper()
	acct := Account(t)
	hub := "T" + strings.ToLower(rand.Text()[:12])
	t.Cleanup(func() {
		// t.Context is already canceled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if err := DeleteHub(ctx, acct, hub); err != nil {
			t.Errorf("azuritetest: clean up hub %s: %v", hub, err)
		}
	})
	return hub
}

// Resources are the storage names that belong to a task hub, as
// [ListHub] finds them.
type Resources struct {
	Queues     []string // lower(hub)+"-…": control queues, work items
	Tables     []string // hub+"…": History, Instances, Partitions
	Containers []string // lower(hub)+"-…": large messages, leases
}

// Empty reports whether no resource is listed.
func (r Resources) Empty() bool {
	return len(r.Queues) == 0 && len(r.Tables) == 0 && len(r.Containers) == 0
}

// ListHub lists the queues and containers named lower(hub)+"-…" and the
// tables named hub+"…" in acct.
func ListHub(ctx context.Context, acct *storage.Account, hub string) (Resources, error) {
	c, err := clientsFor(acct)
	if err != nil {
		return Resources{}, err
	}
	var r Resources
	if r.Queues, err = listQueues(ctx, c.queues, strings.ToLower(hub)+"-"); err != nil {
		return Resources{}, err
	}
	if r.Containers, err = listContainers(ctx, c.blobs, strings.ToLower(hub)+"-"); err != nil {
		return Resources{}, err
	}
	if r.Tables, err = listTables(ctx, c.tables, hub); err != nil {
		return Resources{}, err
	}
	return r, nil
}

// DeleteHub deletes everything [ListHub] finds. Resources that vanish
// meanwhile are not errors.
func DeleteHub(ctx context.Context, acct *storage.Account, hub string) error {
	c, err := clientsFor(acct)
	if err != nil {
		return err
	}
	r, err := ListHub(ctx, acct, hub)
	if err != nil {
		return err
	}
	var errs []error
	for _, q := range r.Queues {
		if _, err := c.queues.DeleteQueue(ctx, q, nil); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("delete queue %s: %w", q, err))
		}
	}
	for _, b := range r.Containers {
		if _, err := c.blobs.DeleteContainer(ctx, b, nil); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("delete container %s: %w", b, err))
		}
	}
	for _, tb := range r.Tables {
		if _, err := c.tables.DeleteTable(ctx, tb, nil); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("delete table %s: %w", tb, err))
		}
	}
	return errors.Join(errs...)
}

// WaitFor calls cond until it reports true, failing the test if timeout
// passes first or cond returns an error. It backs off from 10 ms to 500 ms
// between calls. Use it instead of sleeping: against Azurite most conditions
// hold on the first call; against a real account some take a moment.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	delay := 10 * time.Millisecond
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		next := time.NewTimer(delay)
		select {
		case <-deadline.C:
			next.Stop()
			t.Fatalf("waiting for %s: not true after %v", what, timeout)
		case <-next.C:
		}
		delay = min(2*delay, 500*time.Millisecond)
	}
}

type clients struct {
	queues *azqueue.ServiceClient
	tables *aztables.ServiceClient
	blobs  *azblob.Client
}

var (
	clientsMu    sync.Mutex
	clientsCache = map[*storage.Account]*clients{}
)

// clientsFor builds (once per account) the service clients the cleanup
// uses; pipelines are meant to be shared.
func clientsFor(acct *storage.Account) (*clients, error) {
	clientsMu.Lock()
	defer clientsMu.Unlock()
	if c, ok := clientsCache[acct]; ok {
		return c, nil
	}
	q, err := acct.QueueService(nil)
	if err != nil {
		return nil, err
	}
	tb, err := acct.TableService(nil)
	if err != nil {
		return nil, err
	}
	b, err := acct.BlobService(nil)
	if err != nil {
		return nil, err
	}
	c := &clients{queues: q, tables: tb, blobs: b}
	clientsCache[acct] = c
	return c, nil
}
