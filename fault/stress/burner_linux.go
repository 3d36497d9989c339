package stress

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/shakedown-dev/shakedown"
	"golang.org/x/sys/unix"
)

// Ready is the line a stressor writes to its stdout once it is burning, so that the fault
// knows it started rather than died at once.
const Ready = "shakedown-stress-ready"

// StressMain runs one stressor until ctx is done or its --ttl passes: the body of the cli's
// hidden `stress` command, which the stress faults start as a child in its own process group.
//
//	stress cpu    --run R --ttl D --percent P --cores N
//	stress memory --run R --ttl D --size BYTES
//	stress io     --run R --ttl D --dir DIR --size BYTES --workers N
//
// With --ready-fd N it writes Ready to file descriptor N when the load is on, then closes it. --run names the run for Sweep; the memory
// stressor holds its pages until it exits; the io stressor removes its files when it stops
// (a SIGKILLed one leaves them for Sweep).
func StressMain(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return shakedown.Errorf(shakedown.KindInvalid, "stress: want cpu, memory or io")
	}
	kind := args[0]
	fs := flag.NewFlagSet("stress "+kind, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	run := fs.String("run", "", "run id")
	ttl := fs.Duration("ttl", time.Minute, "stop after this long")
	percent := fs.Float64("percent", 100, "cpu: busy share of each core")
	cores := fs.Int("cores", 1, "cpu: cores to load")
	size := fs.Int64("size", 0, "memory: bytes to hold; io: bytes per file")
	dir := fs.String("dir", os.TempDir(), "io: directory to write in")
	workers := fs.Int("workers", 1, "io: writers")
	readyFD := fs.Int("ready-fd", 0, "write Ready to this descriptor once loaded")
	if err := fs.Parse(args[1:]); err != nil {
		return shakedown.Wrap(shakedown.KindInvalid, "stress "+kind, err)
	}
	if *run == "" {
		return shakedown.Errorf(shakedown.KindInvalid, "stress %s: --run is required", kind)
	}
	stdout := io.Discard
	if *readyFD > 2 {
		f := os.NewFile(uintptr(*readyFD), "ready")
		defer f.Close()
		stdout = &closeAfterWrite{f}
	}
	ctx, cancel := context.WithTimeout(ctx, *ttl)
	defer cancel()
	switch kind {
	case "cpu":
		if *percent <= 0 || *percent > 100 || *cores < 1 {
			return shakedown.Errorf(shakedown.KindInvalid, "stress cpu: percent in (0,100] and cores ≥ 1")
		}
		return burnCPU(ctx, *percent, *cores, stdout)
	case "memory":
		if *size <= 0 {
			return shakedown.Errorf(shakedown.KindInvalid, "stress memory: --size must be above 0")
		}
		return holdMemory(ctx, *size, stdout)
	case "io":
		if *size <= 0 || *workers < 1 {
			return shakedown.Errorf(shakedown.KindInvalid, "stress io: --size above 0 and --workers ≥ 1")
		}
		return writeIO(ctx, *run, *dir, *size, *workers, stdout)
	}
	return shakedown.Errorf(shakedown.KindInvalid, "stress: unknown stressor %q (want cpu, memory or io)", kind)
}

// cpuPeriod is the duty cycle of a CPU burner: busy for percent of it, asleep for the rest.
const cpuPeriod = 100 * time.Millisecond

func burnCPU(ctx context.Context, percent float64, cores int, stdout io.Writer) error {
	runtime.GOMAXPROCS(cores + 1)
	busy := time.Duration(float64(cpuPeriod) * percent / 100)
	var wg sync.WaitGroup
	for range cores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			x := uint64(1)
			for ctx.Err() == nil {
				start := time.Now()
				for time.Since(start) < busy {
					for i := 0; i < 1000; i++ {
						x = x*6364136223846793005 + 1442695040888963407
					}
				}
				if rest := cpuPeriod - time.Since(start); rest > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(rest):
					}
				}
			}
			_ = x
		}()
	}
	fmt.Fprintln(stdout, Ready)
	wg.Wait()
	return nil
}

func holdMemory(ctx context.Context, size int64, stdout io.Writer) error {
	mem, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return shakedown.Wrap(shakedown.KindInternal, fmt.Sprintf("stress memory: map %d bytes", size), err)
	}
	defer unix.Munmap(mem)
	page := os.Getpagesize()
	for i := 0; i < len(mem); i += page {
		mem[i] = 1 // touch every page so it is resident, not just reserved
	}
	fmt.Fprintln(stdout, Ready)
	<-ctx.Done()
	return nil
}

// IOFile returns the file io worker w of stressor pid named run writes in dir.
func IOFile(dir, run string, pid, w int) string {
	return filepath.Join(dir, fmt.Sprintf("%s_io_%d_%d.tmp", run, pid, w))
}

func writeIO(ctx context.Context, run, dir string, size int64, workers int, stdout io.Writer) error {
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	files := make([]*os.File, workers)
	for w := range workers {
		f, err := os.OpenFile(IOFile(dir, run, os.Getpid(), w), os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o600)
		if err != nil {
			for _, g := range files[:w] {
				g.Close()
				os.Remove(g.Name())
			}
			return shakedown.Wrap(shakedown.KindInternal, "stress io", err)
		}
		files[w] = f
	}
	for _, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer os.Remove(f.Name())
			defer f.Close()
			buf := make([]byte, 1<<20)
			for i := range buf {
				buf[i] = byte(i * 7)
			}
			var off int64
			for ctx.Err() == nil {
				n := int64(len(buf))
				if off+n > size {
					n = size - off
				}
				if _, err := f.WriteAt(buf[:n], off); err != nil {
					errc <- err
					return
				}
				if err := f.Sync(); err != nil {
					errc <- err
					return
				}
				off += n
				if off >= size {
					off = 0
				}
			}
		}()
	}
	fmt.Fprintln(stdout, Ready)
	wg.Wait()
	close(errc)
	var errs []error
	for err := range errc {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return shakedown.Wrap(shakedown.KindInternal, "stress io", err)
	}
	return nil
}

// closeAfterWrite closes the ready pipe after the one line, so the parent sees EOF if the
// stressor dies later rather than blocking.
type closeAfterWrite struct{ f *os.File }

func (c *closeAfterWrite) Write(b []byte) (int, error) {
	n, err := c.f.Write(b)
	c.f.Close()
	return n, err
}
