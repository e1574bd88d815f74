package durable_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/provider/memory"
	"github.com/azdurable/azdurable/worker"
)

// An orchestration that calls two activities in turn. The worker and the
// client share the in-memory backend here; with Azure Storage they would
// be separate processes on one task hub (provider/azurestorage).
func ExampleNewOrchestration() {
	upper := durable.NewActivity("Upper", func(_ context.Context, s string) (string, error) {
		return strings.ToUpper(s), nil
	})
	greet := durable.NewActivity("Greet", func(_ context.Context, name string) (string, error) {
		return "Hello " + name + "!", nil
	})
	hello := durable.NewOrchestration("Hello", func(ctx durable.Context, name string) (string, error) {
		loud, err := upper.Call(ctx, name).Await(ctx)
		if err != nil {
			return "", err
		}
		return greet.Call(ctx, loud).Await(ctx)
	})

	be := memory.New(memory.Options{})
	w := worker.New(be, worker.Options{})
	if err := w.Register(hello, upper, greet); err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stopped := runWorker(ctx, w)
	defer stopped()

	run, err := client.Start(ctx, client.New(be, client.Options{}), hello, "Tokyo")
	if err != nil {
		panic(err)
	}
	out, err := run.Get(ctx)
	fmt.Println(out, err)
	// Output: Hello TOKYO! <nil>
}

// A fan-out: one activity call per item, all scheduled before any is
// awaited, then gathered in call order.
func ExampleWhenAllOf() {
	length := durable.NewActivity("Length", func(_ context.Context, s string) (int, error) {
		return len(s), nil
	})
	total := durable.NewOrchestration("Total", func(ctx durable.Context, words []string) (int, error) {
		var calls []durable.Future[int]
		for _, w := range words {
			calls = append(calls, length.Call(ctx, w))
		}
		lengths, err := durable.WhenAllOf(ctx, calls...)
		if err != nil {
			return 0, err
		}
		sum := 0
		for _, n := range lengths {
			sum += n
		}
		return sum, nil
	})

	be := memory.New(memory.Options{})
	w := worker.New(be, worker.Options{})
	if err := w.Register(total, length); err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stopped := runWorker(ctx, w)
	defer stopped()

	run, err := client.Start(ctx, client.New(be, client.Options{}), total, []string{"fan", "out", "and", "in"})
	if err != nil {
		panic(err)
	}
	out, err := run.Get(ctx)
	fmt.Println(out, err)
	// Output: 11 <nil>
}

// runWorker runs w until the returned function is called, which waits for
// it to stop.
func runWorker(ctx context.Context, w *worker.Worker) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	return func() {
		cancel()
		<-done
	}
}
