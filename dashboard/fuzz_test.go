package dashboard_test

import (
	"strings"
	"testing"
	"unicode"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/dashboard"
)

// FuzzParseToken: a token file's content is a token (trimmed, not empty, nothing but
// printable non-space characters) or refused; never a token with white space in it.
func FuzzParseToken(f *testing.F) {
	for _, s := range []string{"s3cret\n", "  a  ", "", "\n\n", "a b", "a\x00b", "\xff\xfe", "tok\r\n", "ünïcode"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := dashboard.ParseToken(b)
		if err != nil {
			if tok != "" {
				t.Errorf("ParseToken(%q) = %q with an error", b, tok)
			}
			return
		}
		if tok == "" || strings.TrimSpace(tok) != tok || strings.IndexFunc(tok, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
			t.Errorf("ParseToken(%q) = %q", b, tok)
		}
		if !strings.Contains(string(b), tok) {
			t.Errorf("ParseToken(%q) = %q, not in the file", b, tok)
		}
	})
}

// FuzzDecodeStopRequest: a stop request's body decodes or is refused as invalid.
func FuzzDecodeStopRequest(f *testing.F) {
	for _, s := range []string{"", "{}", `{"reason": "x"}`, `{"reason": 3}`, `{"force": true}`, "[]", "{} {}", `{"reason": "a\u0000"}`, "null"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := dashboard.DecodeStopRequest(b)
		if err != nil {
			if !shakedown.IsKind(err, shakedown.KindInvalid) {
				t.Errorf("DecodeStopRequest(%q): %v, want an invalid error", b, err)
			}
			return
		}
		if len(req.Reason) > dashboard.MaxReason || strings.IndexFunc(req.Reason, unicode.IsControl) >= 0 {
			t.Errorf("DecodeStopRequest(%q) = %+v", b, req)
		}
	})
}
