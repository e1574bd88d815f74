// Command azdurable is the azdurable command line: task hub management,
// workers, instance management and diagnostics. See "azdurable help".
package main

import "github.com/azdurable/azdurable/cli"

func main() { cli.Main() }
