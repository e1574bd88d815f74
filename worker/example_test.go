package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/provider/memory"
	"github.com/azdurable/azdurable/worker"
)

// indented is a DataConverter that stores payloads as indented JSON.
type indented struct{}

func (indented) Marshal(v any) (string, error) {
	b, err := json.MarshalIndent(v, "", " ")
	return string(b), err
}

func (indented) Unmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// A worker hosts orchestrations and activities on a backend until its
// context ends. Its options include the DataConverter of the payloads it
// runs; the client of the same task hub is given the same one.
func ExampleNew() {
	type order struct {
		Item     string
		Quantity int
	}
	price := durable.NewActivity("Price", func(_ context.Context, o order) (int, error) {
		return 15 * o.Quantity, nil
	})
	checkout := durable.NewOrchestration("Checkout", func(ctx durable.Context, o order) (map[string]int, error) {
		total, err := price.Call(ctx, o).Await(ctx)
		return map[string]int{o.Item: total}, err
	})

	be := memory.New(memory.Options{})
	w := worker.New(be, worker.Options{DataConverter: indented{}})
	if err := w.Register(checkout, price); err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	workerCtx, stopWorker := context.WithCancel(ctx)
	stopped := make(chan error, 1)
	go func() { stopped <- w.Run(workerCtx) }()
	defer func() { stopWorker(); <-stopped }()

	c := client.New(be, client.Options{DataConverter: indented{}})
	run, err := client.Start(ctx, c, checkout, order{Item: "widget", Quantity: 2})
	if err != nil {
		panic(err)
	}
	out, err := run.Get(ctx)
	fmt.Println(out, err)
	st, err := c.GetState(ctx, run.ID)
	if err != nil {
		panic(err)
	}
	fmt.Println(*st.Output)
	// Output:
	// map[widget:30] <nil>
	// {
	//  "widget": 30
	// }
}
