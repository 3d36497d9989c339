package endpoint

import (
	"strconv"
	"strings"
	"testing"

	"github.com/shakedown-dev/shakedown"
)

func TestHTTPURL(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"http://127.0.0.1:8080/healthz", true},
		{"https://example.com", true},
		{"http://u:p@h/", true},
		{"http://h:/", true},
		{"http://[::1]:9090/", true},
		{"http://127.0.0.1:99999/", false},
		{"http://127.0.0.1:0/", false},
		{"http://127.0.0.1:080/", false},
		{"http://:8080/", false},
		{"ftp://h/", false},
		{"not-a-url", false},
		{"127.0.0.1:8474", false},
		{"http://h:80x/", false},
		{"", false},
	} {
		_, err := HTTPURL(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("HTTPURL(%q) = %v, want ok %v", tc.in, err, tc.ok)
		}
		if err != nil && shakedown.KindOf(err) != shakedown.KindInvalid {
			t.Errorf("HTTPURL(%q): kind %v, want invalid", tc.in, shakedown.KindOf(err))
		}
	}
}

// TestHTTPURLHidesPassword: whatever a password holds, HTTPURL's error does not show it,
// nor a piece of it that net/url would quote.
func TestHTTPURLHidesPassword(t *testing.T) {
	for _, pw := range []string{"hunter2/xx", "hunt er2", `hunt"er2`, "hunt#er2", "hunt?er2", "hunt<er2", "hunter2:99", "a@b/c"} {
		for _, u := range []string{"http://bob:" + pw + "@h/", "http://bob:" + pw + "@h:99999/", "gopher://bob:" + pw + "@h/"} {
			_, err := HTTPURL(u)
			if err == nil {
				continue
			}
			if strings.Contains(err.Error(), "hunt") || strings.Contains(err.Error(), pw) {
				t.Errorf("HTTPURL(%q) = %q, shows the password", u, err)
			}
		}
	}
}

func TestAddresses(t *testing.T) {
	for _, tc := range []struct {
		in           string
		dial, listen bool
	}{
		{"127.0.0.1:6379", true, true},
		{"cache:6379", true, true},
		{"[::1]:80", true, true},
		{"localhost:http", false, false},
		{":8080", false, true},
		{"127.0.0.1:0", false, true},
		{"127.0.0.1:99999", false, false},
		{"127.0.0.1:-1", false, false},
		{"h:022", false, false}, // one port, one spelling
		{"h:00", false, false},
		{"garbage", false, false},
		{"127.0.0.1", false, false},
		{"a b:80", false, false},
		{"h:nosuchservice", false, false},
		{"", false, false},
	} {
		if err := Dial(tc.in); (err == nil) != tc.dial {
			t.Errorf("Dial(%q) = %v, want ok %v", tc.in, err, tc.dial)
		}
		if err := Listen(tc.in); (err == nil) != tc.listen {
			t.Errorf("Listen(%q) = %v, want ok %v", tc.in, err, tc.listen)
		}
	}
}

func TestHeader(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		ok          bool
	}{
		{"X-A", "a", true},
		{"Authorization", "Bearer x y", true},
		{"X-Empty", "", true},
		{"Bad Header", "x", false},
		{"", "x", false},
		{"X-A:", "x", false},
		{"X-A", "a\r\nInjected: yes", false},
		{"X-A", "a\nb", false},
		{"X-A", "a\x00b", false},
	} {
		err := Header(tc.name, tc.value)
		if (err == nil) != tc.ok {
			t.Errorf("Header(%q, %q) = %v, want ok %v", tc.name, tc.value, err, tc.ok)
		}
	}
}

// FuzzHTTPURL: HTTPURL never shows the password of a URL, whether or not it parses.
func FuzzHTTPURL(f *testing.F) {
	for _, pw := range []string{"hunter2/xx", "hunt er2", `hu"nter2`, "hu#nter2", "hu?nter2", "hu<nter2", "p@ss"} {
		f.Add("bob", pw, "h:99999")
		f.Add("bob", pw, "h")
	}
	f.Fuzz(func(t *testing.T, user, pw, host string) {
		if len(pw) < shakedown.MinSecretLen || strings.ContainsAny(pw, "x@") || strings.ContainsAny(user, ":/?#@") || strings.Contains(strconv.Quote(user+"@"+host), pw) {
			return
		}
		// What the error says but for the password may spell it: "pass" in "password".
		if _, err := HTTPURL("http://" + user + ":QQQQ@" + host + "/"); err != nil && strings.Contains(err.Error(), pw) {
			return
		}
		_, err := HTTPURL("http://" + user + ":" + pw + "@" + host + "/")
		if err != nil && strings.Contains(err.Error(), pw) {
			t.Errorf("HTTPURL shows password %q: %v", pw, err)
		}
	})
}

// FuzzHeader: what Header lets through cannot split a request's headers.
func FuzzHeader(f *testing.F) {
	f.Add("X-A", "a\r\nInjected: yes")
	f.Add("Bad Header", "x")
	f.Fuzz(func(t *testing.T, name, value string) {
		if Header(name, value) != nil {
			return
		}
		if strings.ContainsAny(name+value, "\r\n\x00") || strings.ContainsAny(name, " :") {
			t.Errorf("Header(%q, %q) let it through", name, value)
		}
	})
}
