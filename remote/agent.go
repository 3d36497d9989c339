package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/journal"
)

// The remote side of a fault is shakedown's own binary, staged on the host, run as
//
//	<staged binary> remote-agent inject      (one fault: inject, hold, revert)
//	<staged binary> remote-agent recover     (replay what dead runs left on the host)
//
// over an SSH session. The runner and the agent talk in JSON lines:
//
//	runner ──AgentRequest──▶ agent    journals, starts its watchdog, injects
//	runner ◀──{"event":"injected"}──  (or {"event":"error"}, and the agent ends)
//	runner ──"renew" every Lease/4──▶ the lease: no renewal for Lease, or end of file → revert
//	runner ──"revert"──▶ agent        reverts, closes its journal, stops its watchdog
//	runner ◀──{"event":"reverted"}──  (with "error" when the revert failed)
//
// A killed agent leaves its watchdog, which reads end of file on its own pipe and replays
// the host's journal.

// Agent protocol lines.
const (
	AgentRenew  = "renew"
	AgentRevert = "revert"

	EventInjected = "injected"
	EventReverted = "reverted"
	EventError    = "error"
)

// HostStateDir is the state dir the remote agent keeps its journals and watchdog in on a
// host, for the user it runs as (uid "0" under sudo): /tmp/shakedown-<uid>/state.
func HostStateDir(uid string) string { return "/tmp/shakedown-" + uid + "/state" }

// JournalID names the journal of fault of run runID on a host: one per fault, as a run may
// hold several faults on one host. It is cut to the 128 characters a journal's name allows.
func JournalID(runID, fault string) string {
	id := runID + "." + fault
	if len(id) > 128 {
		id = id[:128]
	}
	return id
}

// DefaultLease is the lease's time to live when a run sets none: the host reverts on its
// own this long after the runner's last renewal.
const DefaultLease = 5 * time.Second

// AgentRequest is what the runner asks the agent to inject.
type AgentRequest struct {
	RunID      string          `json:"run_id"`
	Experiment string          `json:"experiment,omitempty"` // the run's, for what other runs are told
	Fault      string          `json:"fault"`                // the fault's name in the experiment
	Type       string          `json:"type"`                 // a registered fault type
	Params     json.RawMessage `json:"params,omitempty"`
	Duration   Millis          `json:"duration_ms"`
	TTL        Millis          `json:"ttl_ms"`
	Lease      Millis          `json:"lease_ms"`
	Seed       int64           `json:"seed"`
	Target     AgentTarget     `json:"target"`
	DryRun     bool            `json:"dry_run,omitempty"` // plan: say what would be done, do nothing
	// Share: the experiment lets other runs hold the fault's instances on the host at once
	// (share: true), if their faults stack.
	Share bool `json:"share,omitempty"`
}

// ParseAgentRequest decodes a request line strictly (unknown fields are errors) and checks
// that it names a run, a fault, a type and a target kind.
func ParseAgentRequest(line []byte) (AgentRequest, error) {
	var req AgentRequest
	if err := decodeStrict(line, &req); err != nil {
		return AgentRequest{}, shakedown.Errorf(shakedown.KindInvalid, "agent request: %w", err)
	}
	switch {
	case req.RunID == "", req.Fault == "", req.Type == "", req.Target.Kind == "":
		return AgentRequest{}, shakedown.Errorf(shakedown.KindInvalid, "agent request: run_id, fault, type and target.kind are required")
	}
	// The run and the fault name the journal (and the hold) the agent keeps on the host.
	if err := journal.CheckRunID(JournalID(req.RunID, req.Fault)); err != nil {
		return AgentRequest{}, shakedown.Errorf(shakedown.KindInvalid, "agent request: run_id and fault: %w", err)
	}
	return req, nil
}

// AgentTarget is the target the fault acts on, as the host resolves it: a kind
// registered on the host ("host", "process") and its parameters.
type AgentTarget struct {
	Kind   string          `json:"kind"`
	Params json.RawMessage `json:"params,omitempty"`
}

// AgentEvent is one line the agent writes.
type AgentEvent struct {
	Event   string   `json:"event"`
	Journal string   `json:"journal,omitempty"` // the journal file on the host
	Lines   []string `json:"lines,omitempty"`   // what the fault does (its plan)
	Targets []string `json:"targets,omitempty"` // what the target resolved to on the host
	Error   string   `json:"error,omitempty"`
	Kind    string   `json:"kind,omitempty"` // the error's kind (shakedown.Kind's String)
}

// Err returns the event's error with its kind, or nil.
func (e AgentEvent) Err() error {
	if e.Error == "" {
		return nil
	}
	return shakedown.Errorf(KindNamed(e.Kind), "%s", e.Error)
}

// KindNamed returns the kind whose String is name; KindInternal when none is.
func KindNamed(name string) shakedown.Kind {
	for k := shakedown.KindInternal; k <= shakedown.KindRegressed; k++ {
		if k.String() == name {
			return k
		}
	}
	return shakedown.KindInternal
}

// Millis is a duration written as whole milliseconds.
type Millis time.Duration

// MarshalJSON writes whole milliseconds.
func (m Millis) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(m).Milliseconds())
}

// UnmarshalJSON reads whole milliseconds.
func (m *Millis) UnmarshalJSON(b []byte) error {
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	if n < 0 || n > math.MaxInt64/int64(time.Millisecond) {
		return fmt.Errorf("duration %d ms out of range", n)
	}
	*m = Millis(time.Duration(n) * time.Millisecond)
	return nil
}

// Agent is a fault held on a host by a remote agent: its lease renewed until Revert.
type Agent struct {
	addr string
	s    *Session
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once

	// answer is the agent's answer to the request, still to come, when StartAgent stopped
	// waiting for it: Revert reads it before the revert's own.
	answer <-chan answer

	mu       sync.Mutex
	renewErr error         // the first renewal that failed, or the session's end before a revert
	lost     chan struct{} // closed when renewErr is set
}

// answer is an event read from the agent, or why none could be.
type answer struct {
	ev  AgentEvent
	err error
}

// StartAgent runs `binary remote-agent inject` on the host, sends req and waits until the
// agent says the fault is injected (it returns the agent and that event) or that it could not
// be (an error of the kind the agent gave; the agent then held nothing on the host, or
// reverted what it had). While the fault is held, the agent's lease is renewed every
// req.Lease/4. The caller must Revert or Close the agent; Close alone lets the host revert.
// With req.DryRun the agent only says what it would do, and has ended on return. Once ctx
// has ended nothing is started or sent: the error comes without an agent.
//
// Once the request is sent, only the agent can say that the host holds nothing: when its
// answer does not come (ctx ended first, the connection dropped, the host said something
// else), StartAgent returns an error together with the agent, which the caller must Revert
// as if it held the fault: the revert is confirmed by the host or fails as KindNotRestored.
func StartAgent(ctx context.Context, c *Client, binary string, req AgentRequest) (*Agent, AgentEvent, error) {
	op := fmt.Sprintf("inject %s on %s", req.Type, c.addr)
	if req.Lease <= 0 {
		req.Lease = Millis(DefaultLease)
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, AgentEvent{}, shakedown.Wrap(shakedown.KindInternal, op, err)
	}
	// Once ctx has ended no request leaves: an agent never started holds nothing.
	if ctx.Err() != nil {
		return nil, AgentEvent{}, shakedown.Wrap(ctxKind(ctx, shakedown.KindUnavailable), op,
			fmt.Errorf("not sent: %w", context.Cause(ctx)))
	}
	s, err := c.Start([]string{binary, "remote-agent", "inject"})
	if err != nil {
		return nil, AgentEvent{}, err
	}
	a := &Agent{addr: c.addr, s: s, stop: make(chan struct{}), lost: make(chan struct{})}
	// From here on, a request may have reached the agent, whole or cut.
	if err := s.WriteLine(string(b)); err != nil {
		return a, AgentEvent{}, shakedown.Wrap(shakedown.KindOf(err), op, err)
	}
	answers := make(chan answer, 1)
	go func() { // ends with a line or with the session, which Revert and Close end
		ev, err := readEvent(s)
		answers <- answer{ev, err}
	}()
	var ans answer
	select {
	case ans = <-answers:
	case <-ctx.Done():
		a.answer = answers
		return a, AgentEvent{}, shakedown.Wrap(ctxKind(ctx, shakedown.KindUnavailable), op,
			fmt.Errorf("no answer from the agent (the host may hold the fault): %w", context.Cause(ctx)))
	}
	switch {
	case ans.err != nil && s.NotRun():
		// The host could not run the agent at all: it holds nothing.
		s.Close()
		return nil, AgentEvent{}, shakedown.Wrap(shakedown.KindOf(ans.err), op, ans.err)
	case ans.err != nil:
		return a, AgentEvent{}, shakedown.Wrap(shakedown.KindOf(ans.err), op, fmt.Errorf("no answer from the agent (the host may hold the fault): %w", ans.err))
	case ans.ev.Event == EventError:
		s.Close()
		return nil, ans.ev, shakedown.Wrap(ctxKind(ctx, shakedown.KindOf(ans.ev.Err())), op, ans.ev.Err())
	case ans.ev.Event != EventInjected:
		return a, ans.ev, shakedown.Errorf(shakedown.KindInternal, "%s: agent said %q, want %q (the host may hold the fault)", op, ans.ev.Event, EventInjected)
	}
	if req.DryRun {
		s.Close()
		return a, ans.ev, nil
	}
	a.wg.Go(func() { a.renew(time.Duration(req.Lease) / 4) })
	return a, ans.ev, nil
}

func readEvent(s *Session) (AgentEvent, error) {
	line, err := s.ReadLine()
	if err != nil {
		return AgentEvent{}, err
	}
	return ParseAgentEvent([]byte(line))
}

// ParseAgentEvent decodes a line the agent wrote. A line that is not an event, or names no
// event, is an error quoting (the start of) what the host said.
func ParseAgentEvent(line []byte) (AgentEvent, error) {
	var ev AgentEvent
	err := json.Unmarshal(line, &ev)
	if err == nil && ev.Event == "" {
		err = errors.New("no event")
	}
	if err != nil {
		said := line
		if len(said) > 200 {
			said = append(said[:200:200], "…"...)
		}
		return AgentEvent{}, shakedown.Errorf(shakedown.KindInternal, "agent said %q: %w", said, err)
	}
	return ev, nil
}

func (a *Agent) renew(every time.Duration) {
	t := time.NewTicker(max(every, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-a.s.Ended():
			err := fmt.Errorf("the agent's session ended while it held the fault (the connection was lost, or the agent ended)")
			if tail := a.s.Stderr(); tail != "" {
				err = fmt.Errorf("%w: %s", err, tail)
			}
			a.lose(shakedown.Wrap(shakedown.KindUnavailable, "lease on "+a.addr, err))
			return
		case <-t.C:
			if err := a.s.WriteLine(AgentRenew); err != nil {
				a.lose(err)
				return
			}
		}
	}
}

func (a *Agent) lose(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.renewErr == nil {
		a.renewErr = err
		close(a.lost)
	}
}

// RenewErr returns why the lease could not be renewed, or nil.
func (a *Agent) RenewErr() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.renewErr
}

// Lost is closed when the runner lost hold of the fault before asking for its revert: the
// lease could not be renewed, or the agent's session ended (the connection dropped, the agent
// was killed). RenewErr says why. The host's lease or watchdog then takes the fault back;
// only a revert confirmed by the host says so.
func (a *Agent) Lost() <-chan struct{} { return a.lost }

// Released is closed once the runner stopped holding the fault (Revert or Close).
func (a *Agent) Released() <-chan struct{} { return a.stop }

func (a *Agent) stopRenewing() {
	a.once.Do(func() { close(a.stop) })
	a.wg.Wait()
}

// Revert asks the agent to revert and waits until it confirms. A host that does not
// confirm (connection lost, ctx ended) is an error of kind KindNotRestored naming it: its
// own lease and watchdog take the fault back, but nobody saw it done. An agent whose answer
// to the request StartAgent did not have is asked too: its late "injected" is read first,
// and its error then says it holds nothing.
func (a *Agent) Revert(ctx context.Context) error {
	a.stopRenewing()
	defer a.s.Close()
	op := "revert on " + a.addr
	done := make(chan error, 1)
	go func() {
		if err := a.s.WriteLine(AgentRevert); err != nil {
			done <- err
			return
		}
		if a.answer != nil {
			ans := <-a.answer
			switch {
			case ans.err != nil:
				done <- ans.err
				return
			case ans.ev.Event == EventError:
				done <- nil // it injected nothing, or reverted what it had
				return
			case ans.ev.Event != EventInjected:
				done <- shakedown.Errorf(shakedown.KindInternal, "agent said %q, want %q", ans.ev.Event, EventInjected)
				return
			}
		}
		ev, err := readEvent(a.s)
		switch {
		case err != nil:
		case ev.Event != EventReverted:
			err = shakedown.Errorf(shakedown.KindInternal, "agent said %q, want %q", ev.Event, EventReverted)
		default:
			err = ev.Err()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return shakedown.Wrap(shakedown.KindNotRestored, op, fmt.Errorf("the host did not confirm the revert (its lease takes the fault back on its own): %w", err))
		}
		return nil
	case <-ctx.Done():
		return shakedown.Wrap(shakedown.KindNotRestored, op, fmt.Errorf("no confirmation from the host: %w", ctx.Err()))
	}
}

// Close stops renewing the lease and ends the session; the host reverts on its own.
func (a *Agent) Close() error {
	a.stopRenewing()
	return a.s.Close()
}
