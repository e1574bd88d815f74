// Command azdurable is the azdurable command line: task hub management,
// workers, instance management and diagnostics. See "azdurable help".
//
// It is package cli's Main with this program's own additions: its worker
// hosts the samples (package samples), with the indexing sample's
// summaries saved in the hub's "<hub>-samples" blob container, and with
// --conformance also the reference set shared with the C# backend; and it
// has the bench and demo commands. A user's own binary built with
// cli.Main(cli.WithRegistrations(...)) has the built-in commands for its
// own orchestrations and links none of these.
package main

import (
	"github.com/azdurable/azdurable/cli"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/internal/conformance"
)

func main() { cli.Main(options()...) }

// options are what this program adds to the command line.
func options() []cli.Option {
	return []cli.Option{
		cli.WithRegistrationFunc(Samples),
		cli.WithRegistrationFlag("conformance",
			"also host the conformance set (internal/conformance): the C# reference orchestrations and activities",
			func(cli.HostInfo) ([]durable.Registrable, error) { return conformance.Registrations(), nil }),
		cli.WithCommands(newBench, newDemo),
	}
}
