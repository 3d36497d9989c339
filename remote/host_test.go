package remote

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shakedown-dev/shakedown"
)

func TestHostPort(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"web-1.internal", "web-1.internal:22"},
		{"web-2.internal:2222", "web-2.internal:2222"},
		{"10.0.0.1", "10.0.0.1:22"},
		{"10.0.0.1:22", "10.0.0.1:22"},
		{"::1", "[::1]:22"},
		{"[::1]", "[::1]:22"},
		{"[fe80::1]:2200", "[fe80::1]:2200"},
		{"", ""},
		{"host:", ""},
		{"host:0", ""},
		{"host:65536", ""},
		{"host:022", ""},
		{"host:ssh", ""},
		{":22", ""},
		{"user@host", ""},
		{"bob:hunter2@host", ""},
		{"host name", ""},
		{"host/x", ""},
		{"[::1", ""},
		{"a:b:c", ""},
		{"[host]:22", "host:22"},
		{"[[::1]]", ""},
	} {
		got, err := HostPort(tc.in)
		if err != nil && strings.Contains(tc.in, "@") && strings.Contains(err.Error(), tc.in) {
			t.Errorf("HostPort(%q) = %v, quotes what may be user:password@", tc.in, err)
		}
		if tc.want == "" {
			if !shakedown.IsKind(err, shakedown.KindInvalid) {
				t.Errorf("HostPort(%q) = %q, %v; want an invalid error", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("HostPort(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func FuzzHostPort(f *testing.F) {
	for _, s := range []string{"web-1", "web:2222", "::1", "[::1]:22", "", "a:b:c", "[x]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := HostPort(s)
		if err != nil {
			if !shakedown.IsKind(err, shakedown.KindInvalid) {
				t.Fatalf("HostPort(%q): %v is not invalid", s, err)
			}
			return
		}
		// What HostPort returns has a port and is its own fixed point.
		if again, err := HostPort(got); err != nil || again != got {
			t.Fatalf("HostPort(%q) = %q, and HostPort of that = %q, %v", s, got, again, err)
		}
	})
}

func TestQuote(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{[]string{"echo"}, `'echo'`},
		{[]string{"echo", ""}, `'echo' ''`},
		{[]string{"echo", "it's"}, `'echo' 'it'\''s'`},
		{[]string{"printf", "%s", "$(id)"}, `'printf' '%s' '$(id)'`},
	} {
		got, err := Quote(tc.argv)
		if err != nil || got != tc.want {
			t.Errorf("Quote(%q) = %s, %v; want %s", tc.argv, got, err, tc.want)
		}
	}
	for _, argv := range [][]string{nil, {""}, {"echo", "a\x00"}} {
		if _, err := Quote(argv); !shakedown.IsKind(err, shakedown.KindInvalid) {
			t.Errorf("Quote(%q): %v, want invalid", argv, err)
		}
	}
}

const sampleInventory = `{"user": "root", "identity": "id_ed25519", "known_hosts": "known_hosts", "hosts": [
  {"name": "host-01", "address": "10.200.0.10", "labels": {"role": "web", "zone": "a"}},
  {"name": "host-02", "address": "10.200.0.11:2222"}
]}`

func TestParseInventory(t *testing.T) {
	inv, err := ParseInventory([]byte(sampleInventory))
	if err != nil {
		t.Fatal(err)
	}
	want := Inventory{User: "root", Identity: "id_ed25519", KnownHosts: "known_hosts", Hosts: []InventoryHost{
		{Name: "host-01", Address: "10.200.0.10", Labels: map[string]string{"role": "web", "zone": "a"}},
		{Name: "host-02", Address: "10.200.0.11:2222"},
	}}
	if d := cmp.Diff(want, inv); d != "" {
		t.Errorf("inventory (-want +got):\n%s", d)
	}
	h, err := inv.Host("host-02")
	if err != nil || h != (Host{Address: "10.200.0.11:2222", User: "root", Identity: "id_ed25519", KnownHosts: "known_hosts"}) {
		t.Errorf("Host(host-02) = %+v, %v", h, err)
	}
	if _, err := inv.Host("host-03"); !shakedown.IsKind(err, shakedown.KindNotFound) {
		t.Errorf("Host(host-03): %v, want not found", err)
	}

	for name, bad := range map[string]string{
		"not json":         `hosts: []`,
		"unknown field":    `{"known_hosts": "k", "hosts": [{"name": "a", "address": "a"}], "port": 22}`,
		"unknown in host":  `{"known_hosts": "k", "hosts": [{"name": "a", "address": "a", "tags": {}}]}`,
		"no hosts":         `{"known_hosts": "k", "hosts": []}`,
		"no name":          `{"known_hosts": "k", "hosts": [{"address": "a"}]}`,
		"twice":            `{"known_hosts": "k", "hosts": [{"name": "a", "address": "a"}, {"name": "a", "address": "b"}]}`,
		"bad address":      `{"known_hosts": "k", "hosts": [{"name": "a", "address": "a:0"}]}`,
		"empty label name": `{"known_hosts": "k", "hosts": [{"name": "a", "address": "a", "labels": {"": "x"}}]}`,
		"no known_hosts":   `{"hosts": [{"name": "a", "address": "a"}]}`,
		"trailing data":    `{"known_hosts": "k", "hosts": [{"name": "a", "address": "a"}]} {}`,
		"wrong type":       `{"known_hosts": "k", "hosts": [{"name": "a", "address": 22}]}`,
		"odd user":         `{"user": "ro ot", "known_hosts": "k", "hosts": [{"name": "a", "address": "a"}]}`,
		// One host under two names: a fault would be injected on it twice.
		"same address":      `{"known_hosts": "k", "hosts": [{"name": "a", "address": "10.0.0.1"}, {"name": "b", "address": "10.0.0.1:22"}]}`,
		"same IPv6 address": `{"known_hosts": "k", "hosts": [{"name": "a", "address": "[::1]:22"}, {"name": "b", "address": "0:0::1"}]}`,
		"same name, case":   `{"known_hosts": "k", "hosts": [{"name": "a", "address": "Web-1.example"}, {"name": "b", "address": "web-1.example."}]}`,
	} {
		if _, err := ParseInventory([]byte(bad)); !shakedown.IsKind(err, shakedown.KindInvalid) {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
	ok := `{"insecure_ignore_host_key": true, "hosts": [{"name": "a", "address": "a"}]}`
	if _, err := ParseInventory([]byte(ok)); err != nil {
		t.Errorf("insecure_ignore_host_key without known_hosts: %v", err)
	}
	if _, err := ParseInventory([]byte(strings.Repeat(" ", MaxInventory+1))); !shakedown.IsKind(err, shakedown.KindInvalid) {
		t.Errorf("an inventory over the size limit: %v, want invalid", err)
	}
}

func FuzzParseInventory(f *testing.F) {
	f.Add([]byte(sampleInventory))
	f.Add([]byte(`{"insecure_ignore_host_key": true, "hosts": [{"name": "a", "address": "::1"}]}`))
	f.Add([]byte(`{"hosts": null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, err := ParseInventory(data)
		if err != nil {
			if !shakedown.IsKind(err, shakedown.KindInvalid) {
				t.Fatalf("error %v is not invalid", err)
			}
			return
		}
		// An inventory that parses has hosts, each reachable by name and with a valid address.
		if len(inv.Hosts) == 0 || len(inv.All()) != len(inv.Hosts) {
			t.Fatalf("parsed with %d hosts", len(inv.Hosts))
		}
		for _, h := range inv.Hosts {
			got, err := inv.Host(h.Name)
			if err != nil || got.Address != h.Address {
				t.Fatalf("Host(%q) = %+v, %v", h.Name, got, err)
			}
			if _, err := HostPort(h.Address); err != nil {
				t.Fatalf("host %q has address %q: %v", h.Name, h.Address, err)
			}
		}
	})
}
