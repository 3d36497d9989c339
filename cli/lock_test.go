package cli

import (
	"bytes"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// TestLostLockCutsTheRunShort: a run whose lock another run took (its lease lapsed while the
// store could not be reached, say) no longer has the system to itself. It reverts what it
// injected and ends aborted (exit 3), saying which lock it lost.
func TestLostLockCutsTheRunShort(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: waits for a lease renewal")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	exp := filepath.Join(dir, "exp.yaml")
	injected, reverted := filepath.Join(dir, "injected"), filepath.Join(dir, "reverted")
	if err := os.WriteFile(exp, []byte(`version: 1
name: holds-staging
lock: staging
phases: {baseline: 0s}
faults:
  - name: mark
    type: exec
    with: {inject: [touch, "`+injected+`"], revert: [touch, "`+reverted+`"]}
    duration: 1m
`), 0o644); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(dir, "history.db")
	cmd := exec.Command(bin, "run", "--progress", "plain", "--state-dir", filepath.Join(dir, "state"), "--history", "sqlite:"+store, exp)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	testenv.WaitFor(t, "the run to inject", 30*time.Second, func() bool {
		_, err := os.Stat(injected)
		return err == nil
	})

	// Another run takes the lock, as one may once a lease has lapsed.
	db, err := sql.Open("sqlite", "file:"+store+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(`UPDATE locks SET holder = 'another-run' WHERE name = 'staging'`)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("the run holds no lock staging in the store (%d rows)", n)
	}

	select {
	case err = <-done:
		done <- err // for the cleanup
	case <-time.After(30 * time.Second):
		t.Fatalf("the run still runs 30 s after it lost its lock:\n%s\n%s", stdout.String(), stderr.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("run = %v; want exit 3 (aborted)\n%s\n%s", err, stdout.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), "lost lock staging") || !strings.Contains(stdout.String(), "ABORTED") {
		t.Errorf("the run does not say it lost its lock and was aborted:\n%s\n%s", stdout.String(), stderr.String())
	}
	if _, err := os.Stat(reverted); err != nil {
		t.Errorf("the fault was not reverted: %v", err)
	}
}
