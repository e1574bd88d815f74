package azurestorage_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/taskhub"
	"github.com/azdurable/azdurable/partition"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/storage"
)

// onFirstPartitionsRead calls f once, after the first read of the
// Partitions table.
type onFirstPartitionsRead struct {
	table string
	once  sync.Once
	f     func()
}

func (p *onFirstPartitionsRead) Do(req *policy.Request) (*http.Response, error) {
	resp, err := req.Next()
	if req.Raw().Method == http.MethodGet && strings.Contains(req.Raw().URL.Path, p.table) {
		p.once.Do(p.f)
	}
	return resp, err
}

// TestPartitionRowsBeingCreatedAreNotTheHubsCount: another worker is
// creating the hub and has inserted 4 of its 8 partition rows when this
// one checks the count. Found by the chaos run: workers started together
// on a new hub exited with "has 4 partitions, but 8 are configured".
func TestPartitionRowsBeingCreatedAreNotTheHubsCount(t *testing.T) {
	hub := azuritetest.NewHub(t)
	acct := azuritetest.Account(t)
	names, _ := taskhub.NewNames(hub)
	svc, _ := acct.TableService(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := partition.CreateTable(ctx, svc, names.TaskHub()); err != nil {
		t.Fatal(err)
	}
	if err := partition.CreateRows(ctx, svc, names.TaskHub(), 4); err != nil {
		t.Fatal(err)
	}
	rest := make(chan error, 1)
	hook := &onFirstPartitionsRead{table: names.PartitionsTable(), f: func() {
		go func() { rest <- partition.CreateRows(context.Background(), svc, names.TaskHub(), 8) }()
	}}
	be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: acct, Partitions: 8, Logger: quiet(),
		Client: &storage.ClientOptions{PerRetryPolicies: []policy.Policy{hook}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.DeleteTaskHub(context.Background()) })
	if err := be.CreateTaskHub(ctx); err != nil {
		t.Fatalf("creating the hub while another worker writes its rows: %v", err)
	}
	if err := <-rest; err != nil {
		t.Fatal(err)
	}
	// A hub that really has another count is still refused.
	other, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: acct, Partitions: 4, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	var pce *provider.PartitionCountError
	if err := other.CreateTaskHub(ctx); !errors.As(err, &pce) || pce.Hub != 8 {
		t.Fatalf("a 4-partition backend on the 8-partition hub: %v", err)
	}
}
