package remote_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/remote"
)

func TestParseAgentRequest(t *testing.T) {
	good := remote.AgentRequest{RunID: "01abc", Fault: "cut", Type: "network.partition",
		Params: json.RawMessage(`{"cidrs":["192.0.2.0/24"]}`), Duration: remote.Millis(1500 * time.Millisecond),
		TTL: remote.Millis(31500 * time.Millisecond), Lease: remote.Millis(5 * time.Second), Seed: 7,
		Target: remote.AgentTarget{Kind: "host"}}
	line, err := json.Marshal(good)
	if err != nil {
		t.Fatal(err)
	}
	got, err := remote.ParseAgentRequest(line)
	if err != nil {
		t.Fatalf("ParseAgentRequest(%s): %v", line, err)
	}
	if diff := cmp.Diff(good, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	for _, bad := range []string{
		``, `{}`, `[]`, `{"run_id":"r","fault":"f","type":"t"}`,
		`{"run_id":"r","fault":"f","type":"t","target":{"kind":"host"},"extra":1}`,
		`{"run_id":"r","fault":"f","type":"t","target":{"kind":"host"},"lease_ms":-1}`,
		`{"run_id":"r","fault":"f","type":"t","target":{"kind":"host"}} {}`,
		// The run and the fault name the journal and the hold on the host: no paths, no spaces.
		`{"run_id":"r","fault":"../../etc/x","type":"t","target":{"kind":"host"}}`,
		`{"run_id":"r r","fault":"f","type":"t","target":{"kind":"host"}}`,
	} {
		if _, err := remote.ParseAgentRequest([]byte(bad)); !shakedown.IsKind(err, shakedown.KindInvalid) {
			t.Errorf("ParseAgentRequest(%q) = %v, want an invalid error", bad, err)
		}
	}
}

func TestAgentEventErrKeepsKind(t *testing.T) {
	for _, k := range []shakedown.Kind{shakedown.KindNotFound, shakedown.KindPermission, shakedown.KindNotRestored, shakedown.KindInternal} {
		ev := remote.AgentEvent{Event: remote.EventError, Error: "boom", Kind: k.String()}
		if err := ev.Err(); !shakedown.IsKind(err, k) {
			t.Errorf("AgentEvent{Kind: %q}.Err() = %v, want kind %v", k.String(), err, k)
		}
	}
	if err := (remote.AgentEvent{Event: remote.EventReverted}).Err(); err != nil {
		t.Errorf("an event with no error: Err() = %v", err)
	}
}

func FuzzParseAgentRequest(f *testing.F) {
	f.Add([]byte(`{"run_id":"r","fault":"f","type":"process.pause","target":{"kind":"process","params":{"name":"x"}},"duration_ms":100}`))
	f.Add([]byte(`{"run_id":"r","fault":"f","type":"t","target":{"kind":"host"},"lease_ms":18446744073709551615}`))
	f.Add([]byte(`{"params":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := remote.ParseAgentRequest(data)
		if err != nil {
			if !shakedown.IsKind(err, shakedown.KindInvalid) {
				t.Fatalf("error of kind %v, want invalid: %v", shakedown.KindOf(err), err)
			}
			return
		}
		if req.RunID == "" || req.Type == "" || req.Target.Kind == "" || req.Lease < 0 || req.Duration < 0 {
			t.Fatalf("accepted %+v", req)
		}
		line, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		again, err := remote.ParseAgentRequest(line)
		if err != nil {
			t.Fatalf("a parsed request does not parse again: %v\n%s", err, line)
		}
		if diff := cmp.Diff(req, again, cmp.Comparer(func(a, b json.RawMessage) bool { return compactEqual(a, b) })); diff != "" {
			t.Fatalf("round trip (-first +again):\n%s", diff)
		}
	})
}

func compactEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return string(a) == string(b)
	}
	return cmp.Equal(x, y)
}

func FuzzParseAgentEvent(f *testing.F) {
	f.Add([]byte(`{"event":"injected","journal":"/tmp/j","lines":["a"],"targets":["t"]}`))
	f.Add([]byte(`{"event":"reverted","error":"boom","kind":"not_restored"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`not json at all`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := remote.ParseAgentEvent(data)
		if err != nil {
			if !shakedown.IsKind(err, shakedown.KindInternal) {
				t.Fatalf("error of kind %v, want internal: %v", shakedown.KindOf(err), err)
			}
			if len(err.Error()) > 1100 { // 200 bytes quoted (at most 4 characters each) and why
				t.Fatalf("error quotes the whole line (%d bytes): %.100s…", len(err.Error()), err)
			}
			return
		}
		if ev.Event == "" {
			t.Fatalf("accepted an event with no name: %+v", ev)
		}
		if e := ev.Err(); (e == nil) != (ev.Error == "") {
			t.Fatalf("Err() = %v for error %q", e, ev.Error)
		}
	})
}
