// Command azdurable is the azdurable command line: task hub management,
// workers, instance management and diagnostics. See "azdurable help".
//
// Its worker hosts the samples (package samples), with the indexing
// sample's summaries saved in the hub's "<hub>-samples" blob container. To
// host your own orchestrations, build your own binary the same way with
// cli.WithRegistrations.
package main

import "github.com/azdurable/azdurable/cli"

func main() { cli.Main(cli.WithRegistrationFunc(cli.Samples)) }
