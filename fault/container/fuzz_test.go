package container

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/shakedown-dev/shakedown/internal/endpoint"
)

func FuzzParseHost(f *testing.F) {
	for _, s := range []string{"", "unix:///var/run/docker.sock", "tcp://1.2.3.4:2375", "http://[::1]", "ssh://x", "unix://", "tcp://:0/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ep, err := ParseHost(s)
		if err != nil {
			return
		}
		if ep.Scheme != "unix" && ep.Scheme != "tcp" || ep.Addr == "" {
			t.Fatalf("ParseHost(%q) = %+v", s, ep)
		}
	})
}

func FuzzParseStartTime(f *testing.F) {
	f.Add([]byte("1 (init) S 0 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 5 0 0"))
	f.Add([]byte("7 (a) b) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseStartTime(b)
	})
}

func FuzzParseCgroups(f *testing.F) {
	f.Add([]byte("12:memory:/docker/abc\n0::/x\n1:name=systemd:/y\n"))
	f.Add([]byte(":::\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for k := range ParseCgroups(b) {
			if k != "cgroup" && len(k) < 8 {
				t.Fatalf("key %q", k)
			}
		}
	})
}

func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{"1.41", "1.24", "2.0", "x.y", "1.", ".1", "1.99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := Negotiate(s)
		if err == nil && (CompareVersions(v, MinAPIVersion) < 0 || CompareVersions(v, MaxAPIVersion) > 0) {
			t.Fatalf("Negotiate(%q) = %q, outside [%s, %s]", s, v, MinAPIVersion, MaxAPIVersion)
		}
	})
}

// FuzzDecodeAnswers feeds the decoders of the daemon's answers and of undo records.
func FuzzDecodeAnswers(f *testing.F) {
	f.Add([]byte(`{"Id":"abc","Name":"/x","State":{"Status":"running","Running":true,"Pid":4,"Health":{"Status":"healthy"}},"NetworkSettings":{"Networks":{"n":{"NetworkID":"i","Aliases":["a"],"IPAMConfig":{"IPv4Address":"10.0.0.2"}}}}}`))
	f.Add([]byte(`{"message":"no such container"}`))
	f.Add([]byte(`[{"Id":"abc","Names":["/x"],"State":"running","Labels":{"a":"b"}},{}]`))
	f.Add([]byte(`{"host":"unix:///x","id":"abc","network":"n","aliases":["a"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Details
		if json.Unmarshal(b, &d) == nil {
			d.Health()
			d.Label()
			attachment(&d, "n", "i")
		}
		errorMessage(b)
		var list []Summary
		if err := decodeList(endpoint.Bounded(bytes.NewReader(b), maxList), &list); err == nil && len(list) > maxListed {
			t.Fatalf("decodeList kept %d containers, more than %d", len(list), maxListed)
		}
		// an undo record either decodes to a complete one or is refused; a host that does
		// not parse never reaches a daemon
		var cd ConnectData
		if json.Unmarshal(b, &cd) == nil && cd.Host != "" {
			if _, err := ParseHost(cd.Host); err == nil {
				return
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		undoConnect(ctx, b)
	})
}
