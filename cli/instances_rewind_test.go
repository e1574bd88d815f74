package cli

import (
	"context"
	"errors"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/worker"
)

// cliDeclines makes cliFlaky fail while it is set.
var cliDeclines atomic.Bool

var cliFlaky = durable.NewActivity("CLIFlaky", func(_ context.Context, s string) (string, error) {
	if cliDeclines.Load() {
		return "", errors.New("declined: " + s)
	}
	return "ok:" + s, nil
})

// cliFlow calls cliFlaky with two attempts, a second apart.
var cliFlow = durable.NewOrchestration("CLIFlow", func(ctx durable.Context, s string) (string, error) {
	return cliFlaky.Call(ctx, s, durable.WithRetry(durable.RetryPolicy{MaxAttempts: 2, FirstRetryInterval: time.Second})).Await(ctx)
})

var cliWait = durable.NewOrchestration("CLIWait", func(ctx durable.Context, s string) (string, error) {
	return durable.WaitForEvent[string](ctx, "Go").Await(ctx)
})

func TestInstancesRewindRestart(t *testing.T) {
	e := newHubEnv(t, false)
	be, err := azurestorage.New(azurestorage.Options{TaskHub: e.hub, Account: azuritetest.Account(t),
		MaxPollingInterval: 200 * time.Millisecond, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(be, worker.Options{Logger: quietLog(), ShutdownTimeout: 5 * time.Second})
	if err := w.Register(cliFlaky, cliFlow, cliWait); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })

	cliDeclines.Store(true)
	if _, err := e.c.ScheduleNew(e.ctx, cliFlow.Name(), "a", client.WithInstanceID("cli-rw")); err != nil {
		t.Fatal(err)
	}
	e.wait("cli-rw", client.Failed)
	cliDeclines.Store(false)
	if out := e.ok("rewind", "cli-rw", "--reason", "fixed"); out != "rewound cli-rw: a worker runs it again\n" {
		t.Errorf("rewind: %q", out)
	}
	st := e.wait("cli-rw", client.Completed)
	if *st.Output != `"ok:a"` {
		t.Errorf("rewound output %s", *st.Output)
	}
	e.fails(1, `azdurable: instance "cli-rw" is Completed: only a failed instance can be rewound`, "rewind", "cli-rw")
	e.fails(1, `azdurable: instance "cli-nosuch" not found`, "rewind", "cli-nosuch")
	e.fails(2, "accepts 1 arg", "rewind")

	if out := e.ok("restart", "cli-rw"); out != "restarted cli-rw\n" {
		t.Errorf("restart: %q", out)
	}
	again := e.wait("cli-rw", client.Completed)
	if again.ExecutionID == st.ExecutionID || *again.Input != `"a"` {
		t.Errorf("restarted: execution %s (was %s), input %s", again.ExecutionID, st.ExecutionID, *again.Input)
	}

	if _, err := e.c.ScheduleNew(e.ctx, cliWait.Name(), "w", client.WithInstanceID("cli-wait")); err != nil {
		t.Fatal(err)
	}
	e.wait("cli-wait", client.Running)
	e.fails(1, `azdurable: instance "cli-wait" is Running: it can be restarted in place once it has ended, or now with --new-id`,
		"restart", "cli-wait")
	out := e.ok("restart", "cli-wait", "--new-id")
	m := regexp.MustCompile(`^restarted cli-wait as ([0-9a-f]{32})\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("restart --new-id: %q", out)
	}
	e.wait(m[1], client.Running)
	e.fails(1, `azdurable: instance "cli-nosuch" not found`, "restart", "cli-nosuch")
	for _, id := range []string{"cli-wait", m[1]} {
		if err := e.c.Terminate(e.ctx, id, "done"); err != nil {
			t.Fatal(err)
		}
	}
}
