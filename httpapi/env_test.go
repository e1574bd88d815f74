package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/httpapi"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/samples"
	"github.com/azdurable/azdurable/worker"
)

func TestMain(m *testing.M) { azuritetest.Main(m) }

// env is a task hub on Azurite with a real worker hosting the samples, a
// client, and the handler under test.
type env struct {
	t   *testing.T
	hub string
	c   *client.Client
	h   *httpapi.Handler
	ctx context.Context
}

func quiet() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

func newEnv(t *testing.T, adjust func(*httpapi.Options)) *env {
	t.Helper()
	hub, be := hubWithWorker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	c := client.New(be, client.Options{})
	o := httpapi.Options{Client: c, TaskHub: hub, Orchestrators: httpapi.FromRegistrations(samples.All(nil)...), Logger: quiet()}
	if adjust != nil {
		adjust(&o)
	}
	h, err := httpapi.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, hub: hub, c: c, h: h, ctx: ctx}
}

// hubWithWorker creates a task hub on Azurite with a worker of the
// samples running on it for the test's lifetime.
func hubWithWorker(t *testing.T) (string, *azurestorage.Backend) {
	t.Helper()
	hub := azuritetest.NewHub(t)
	be, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: azuritetest.Account(t),
		MaxPollingInterval: 200 * time.Millisecond, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	// Deleting the hub also breaks the app lease the worker leaves behind.
	t.Cleanup(func() { _ = be.DeleteTaskHub(context.Background()) })
	w := worker.New(be, worker.Options{Logger: quiet(), ShutdownTimeout: 5 * time.Second})
	if err := w.Register(samples.All(nil)...); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	return hub, be
}

// response is a recorded answer.
type response struct {
	code   int
	header http.Header
	body   string
}

// do sends a request from a loopback caller. url may be absolute or a
// path (then the host is example.test).
func (e *env) do(method, url string, body string, header ...string) response {
	e.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, url, r)
	req.RemoteAddr = "127.0.0.1:50000"
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return response{code: rec.Code, header: rec.Header(), body: rec.Body.String()}
}

// waitStatus polls GET instances/{id} until the runtime status is want.
func (e *env) waitStatus(id string, want client.Status) {
	e.t.Helper()
	azuritetest.WaitFor(e.t, 3*time.Minute, id+" "+want.String(), func() (bool, error) {
		st, err := e.c.GetState(e.ctx, id)
		if err != nil {
			return false, nil
		}
		return st.Status == want, nil
	})
}

// azuritetestWait waits for cond with the harness's back-off.
func azuritetestWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	azuritetest.WaitFor(t, 3*time.Minute, what, func() (bool, error) { return cond(), nil })
}
