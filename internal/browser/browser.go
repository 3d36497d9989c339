// Package browser drives a real, headless Chromium for tests of what shakedown shows in a
// browser (the HTML report, the dashboard). A test opens a Tab, navigates it with chromedp
// actions, and asks it what the page logged: a console error or an uncaught exception fails
// most tests. With no Chromium on the machine the test skips, or fails under
// SHAKEDOWN_REQUIRE_ALL=1 (Debian's package is chromium).
package browser

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// Names are the executables tried, in order, for Chromium.
var Names = []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"}

// Find returns the path of a Chromium executable, or "" if there is none.
func Find() string {
	for _, n := range Names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// Tab is one browser tab of a headless Chromium of its own, closed with the test.
type Tab struct {
	// Ctx runs chromedp actions in the tab: chromedp.Do(tab.Ctx, chromedp.Navigate(u), …).
	Ctx context.Context

	mu   sync.Mutex
	logs []string // console errors and uncaught exceptions, in order
}

// Options change how a Tab is opened.
type Options struct {
	// Offline cuts the tab off every network: a page it opens from a file must need nothing
	// else.
	Offline bool
	// Width and Height are the window's size (default 1280×900).
	Width, Height int
	// Timeout bounds everything done in the tab (default 90 s).
	Timeout time.Duration
}

// Open starts a headless Chromium for t and opens a tab in it.
func Open(t testing.TB, o Options) *Tab {
	t.Helper()
	exe := Find()
	testenv.Need(t, exe != "", "no Chromium (apt-get install chromium)")
	if o.Width == 0 {
		o.Width, o.Height = 1280, 900
	}
	if o.Timeout == 0 {
		o.Timeout = 90 * time.Second
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // tests run as root
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.WindowSize(o.Width, o.Height),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	// The first action starts the browser and binds its life to the context it runs on: it
	// must not carry the timeout (see chromedp.NewContext).
	if err := chromedp.Do(ctx); err != nil {
		cancelTab()
		cancelAlloc()
		t.Fatalf("start Chromium (%s): %v", exe, err)
	}
	tctx, cancelTimeout := context.WithTimeout(ctx, o.Timeout)
	tab := &Tab{Ctx: tctx}
	done := make(chan struct{})
	messages := chromedp.Console(ctx)
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == "error" || m.Type == "assert" {
				tab.log(fmt.Sprintf("%s at %s:%d: %s", m.Type, m.URL, m.Line+1, m.Text))
			}
		}
	}()
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
		<-done
	})
	if o.Offline {
		_, err := chromedp.Call(tctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
			MatchedNetworkConditions: []*network.Conditions{{Offline: true, DownloadThroughput: -1, UploadThroughput: -1}},
		})
		if err != nil {
			t.Fatalf("take the tab offline: %v", err)
		}
	}
	return tab
}

func (tab *Tab) log(s string) {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	tab.logs = append(tab.logs, s)
}

// Errors returns the console errors and uncaught exceptions the tab has seen so far.
func (tab *Tab) Errors() []string {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	return append([]string(nil), tab.logs...)
}

// NoErrors fails t if the tab has seen a console error or an uncaught exception.
func (tab *Tab) NoErrors(t testing.TB) {
	t.Helper()
	if errs := tab.Errors(); len(errs) > 0 {
		t.Errorf("the page logged %d error(s):\n  %s", len(errs), strings.Join(errs, "\n  "))
	}
}

// Do runs chromedp actions in the tab and fails t on an error.
func (tab *Tab) Do(t testing.TB, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(tab.Ctx, actions...); err != nil {
		t.Fatalf("browser: %v (page errors: %v)", err, tab.Errors())
	}
}

// Eval evaluates a JavaScript expression in the page and decodes its value (JSON) into T.
func Eval[T any](t testing.TB, tab *Tab, expr string) T {
	t.Helper()
	v, err := chromedp.Run(tab.Ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("browser: evaluate %s: %v (page errors: %v)", expr, err, tab.Errors())
	}
	return v
}

// Screenshot returns a PNG of the whole page.
func (tab *Tab) Screenshot(t testing.TB) []byte {
	t.Helper()
	png, err := chromedp.Run(tab.Ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("browser: screenshot: %v", err)
	}
	return png
}
