// Command shakedown runs resilience experiments. See the README for how to use it.
package main

import (
	"context"
	"os"

	"github.com/shakedown-dev/shakedown/cli"
)

func main() {
	ctx, stop := cli.SignalContext(context.Background(), os.Stderr, os.Exit)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
