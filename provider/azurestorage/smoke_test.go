package azurestorage_test

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/providertest"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/samples/hellocities"
	"github.com/azdurable/azdurable/worker"
)

func TestMain(m *testing.M) { azuritetest.Main(m) }

func newBackend(t *testing.T, hub string) *azurestorage.Backend {
	t.Helper()
	be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: azuritetest.Account(t),
		MaxPollingInterval: time.Second, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.DeleteTaskHub(context.Background()) })
	return be
}

func TestSmokeHelloCities(t *testing.T) {
	hub := azuritetest.NewHub(t)
	be := newBackend(t, hub)
	w := worker.New(be, worker.Options{})
	if err := w.Register(hellocities.Registrations()...); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	c := client.New(be, client.Options{})
	wctx, wcancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer wcancel()
	run, err := client.Start(wctx, c, hellocities.HelloCities, "cities")
	if err != nil {
		t.Fatal(err)
	}
	out, err := run.Get(wctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(out, ","); got != "Hello Tokyo!,Hello Seattle!,Hello London!" {
		t.Fatalf("output %s", got)
	}
}

func TestContract(t *testing.T) {
	providertest.Run(t, func(t *testing.T) provider.Backend { return newBackend(t, azuritetest.NewHub(t)) })
}
