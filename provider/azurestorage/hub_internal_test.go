package azurestorage

import (
	"context"
	"testing"
	"time"

	"github.com/azdurable/azdurable/internal/azuritetest"
)

// newCreatedHub returns a backend of one partition on a fresh, created hub
// of the harness's Azurite (deleted at the end of the test), its hub name,
// and a context that bounds the test to three minutes. The backend is not
// started: the internal tests drive its parts themselves.
func newCreatedHub(t *testing.T) (*Backend, string, context.Context) {
	t.Helper()
	hub := azuritetest.NewHub(t)
	b, err := New(Options{TaskHub: hub, Account: azuritetest.Account(t), Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteTaskHub(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	if err := b.CreateTaskHub(ctx); err != nil {
		t.Fatal(err)
	}
	return b, hub, ctx
}
