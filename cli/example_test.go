package cli_test

import (
	"context"
	"fmt"
	"os"

	"github.com/azdurable/azdurable/cli"
	"github.com/azdurable/azdurable/durable"
)

// A program's own azdurable: its main is one line,
//
//	func main() { cli.Main(cli.WithRegistrations(hello, greet)) }
//
// and `myprogram worker --task-hub MyHub ...` then hosts hello and greet,
// beside every other azdurable command. Here Run stands in for Main, which
// exits the process.
func Example() {
	greet := durable.NewActivity("Greet", func(_ context.Context, name string) (string, error) {
		return "Hello " + name + "!", nil
	})
	hello := durable.NewOrchestration("Hello", func(ctx durable.Context, name string) (string, error) {
		return greet.Call(ctx, name).Await(ctx)
	})
	code := cli.Run([]string{"inspect", "partition", "--partitions", "4", "--task-hub", "MyHub", "order-12345"},
		os.Stdin, os.Stdout, os.Stderr, cli.WithRegistrations(hello, greet))
	fmt.Println("exit status", code)
	// Output:
	// 01 myhub-control-01
	// exit status 0
}
