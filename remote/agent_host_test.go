package remote_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/testenv"
	"github.com/shakedown-dev/shakedown/remote"
)

// fakeAgent is a remote side that takes the request and "injects" (a marker file named
// after the run), then, as $1 says:
//
//	late: answers only once the runner writes again (an agent slower than its runner's
//	      patience); a revert then takes the marker back and is confirmed
//	drop: kills the sshd process that serves its connection (the link drops mid-inject)
const fakeAgent = `#!/bin/sh
read -r req
id=$(printf '%s\n' "$req" | sed 's/.*"run_id":"\([^"]*\)".*/\1/')
touch "/tmp/fake-agent-$id"
case $MODE in
late)
	read -r line
	echo '{"event":"injected"}'
	[ "$line" = revert ] && rm -f "/tmp/fake-agent-$id" && echo '{"event":"reverted"}'
	;;
drop)
	sid=$(cut -d' ' -f6 /proc/$$/stat)
	kill -KILL "$(cut -d' ' -f4 /proc/$sid/stat)"
	sleep 60
	;;
esac
`

// stageFake stages fakeAgent in mode on the host behind c and returns its path there.
func stageFake(t *testing.T, c *remote.Client, mode string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fake-agent-"+mode)
	script := "#!/bin/sh\nMODE=" + mode + "\n" + fakeAgent[len("#!/bin/sh\n"):]
	if err := os.WriteFile(p, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	bin, err := c.Stage(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func markerOn(t *testing.T, c *remote.Client, runID string) bool {
	t.Helper()
	_, err := c.Run(context.Background(), []string{"test", "-e", "/tmp/fake-agent-" + runID}, nil)
	return err == nil
}

// TestAgentUnansweredMayHold: a runner that stops waiting for the agent's answer (its run
// was stopped, the link dropped) cannot tell whether the host injected. StartAgent must then
// still hand back the agent, whose revert either hears the host confirm or fails as not
// restored, naming the host: never "nothing was injected" from a host that may hold it.
func TestAgentUnansweredMayHold(t *testing.T) {
	tb := needTestbed(t)
	h := tb.host(t, 7)
	req := func(name string) remote.AgentRequest {
		return remote.AgentRequest{RunID: name + strconv.FormatInt(time.Now().UnixNano(), 36), Fault: "f",
			Type: "process.pause", Target: remote.AgentTarget{Kind: "host"}}
	}

	t.Run("late answer", func(t *testing.T) {
		c := dial(t, h)
		bin := stageFake(t, c, "late")
		r := req("late")
		ctx, cancel := context.WithCancel(context.Background())
		type started struct {
			a   *remote.Agent
			err error
		}
		done := make(chan started, 1)
		go func() {
			a, _, err := remote.StartAgent(ctx, c, bin, r)
			done <- started{a, err}
		}()
		testenv.WaitFor(t, "the agent to inject", 10*time.Second, func() bool { return markerOn(t, c, r.RunID) })
		cancel()
		s := <-done
		if !shakedown.IsKind(s.err, shakedown.KindAborted) {
			t.Errorf("StartAgent cancelled before the agent answered: %v, want aborted", s.err)
		}
		if s.a == nil {
			t.Fatal("StartAgent gave up on a host that may hold the fault and returned no agent to revert it with")
		}
		rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer rcancel()
		if err := s.a.Revert(rctx); err != nil {
			t.Errorf("Revert of an agent that answers late: %v, want its confirmation", err)
		}
		if markerOn(t, c, r.RunID) {
			t.Error("the host still holds the fault after a confirmed revert")
		}
	})

	t.Run("link dropped", func(t *testing.T) {
		c := dial(t, h)
		bin := stageFake(t, c, "drop")
		r := req("drop")
		a, _, err := remote.StartAgent(context.Background(), c, bin, r)
		if !shakedown.IsKind(err, shakedown.KindUnavailable) {
			t.Errorf("StartAgent whose link dropped mid-inject: %v, want unavailable", err)
		}
		check := dial(t, h)
		t.Cleanup(func() { check.Run(context.Background(), []string{"rm", "-f", "/tmp/fake-agent-" + r.RunID}, nil) })
		if !markerOn(t, check, r.RunID) {
			t.Fatal("the fake agent did not inject before its link dropped")
		}
		if a == nil {
			t.Fatal("StartAgent lost the link to a host that may hold the fault and returned no agent to revert it with")
		}
		rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer rcancel()
		if err := a.Revert(rctx); !shakedown.IsKind(err, shakedown.KindNotRestored) {
			t.Errorf("Revert on a host the runner lost mid-inject: %v, want not restored", err)
		}
	})
}

// TestAgentNotSentOnceCtxEnded: once the run was stopped (Ctrl-C) or its deadline passed, no
// inject request leaves: StartAgent starts nothing on the host and returns no agent, since
// a host never asked holds nothing to revert.
func TestAgentNotSentOnceCtxEnded(t *testing.T) {
	h := needTestbed(t).host(t, 3)
	c := dial(t, h)
	bin := stageFake(t, c, "late")
	r := remote.AgentRequest{RunID: "ended" + strconv.FormatInt(time.Now().UnixNano(), 36), Fault: "f",
		Type: "process.pause", Target: remote.AgentTarget{Kind: "host"}}
	t.Cleanup(func() { c.Run(context.Background(), []string{"rm", "-f", "/tmp/fake-agent-" + r.RunID}, nil) })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a, _, err := remote.StartAgent(ctx, c, bin, r)
	if !shakedown.IsKind(err, shakedown.KindAborted) {
		t.Errorf("StartAgent with a cancelled context: %v, want aborted", err)
	}
	if a != nil {
		a.Close()
		t.Error("StartAgent with a cancelled context returned an agent: it should have sent nothing")
	}
	if markerOn(t, c, r.RunID) {
		t.Error("StartAgent sent its inject request after its context ended")
	}
}
