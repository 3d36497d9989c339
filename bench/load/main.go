// Command load runs shakedown's load generator on its own, for bench/load/run.sh to measure
// side by side with vegeta. It is `shakedown load` without the rest of the binary.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/load"
)

func main() {
	url := flag.String("url", "", "target URL")
	rate := flag.String("rate", "50/s", "requests per second (open model)")
	duration := flag.Duration("duration", 10*time.Second, "how long to send")
	workers := flag.Int("workers", 0, "above zero: closed model at maximum rate with this many workers")
	timeout := flag.Duration("timeout", 30*time.Second, "per request")
	asJSON := flag.Bool("json", false, "JSON report")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the run to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "load:", err)
			os.Exit(2)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var r shakedown.Rate
	if *workers == 0 {
		var err error
		if r, err = shakedown.ParseRate(*rate); err != nil {
			fmt.Fprintln(os.Stderr, "load:", err)
			os.Exit(2)
		}
	}
	err := load.Main(ctx, *url, r, *duration, load.MainOptions{Workers: *workers, Timeout: *timeout, JSON: *asJSON}, os.Stdout)
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}
