package shakedown_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shakedown-dev/shakedown"
)

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"http://user:hunter2@example.com/x", "http://user:xxxxx@example.com/x"},
		{"https://u:p@h:8443/", "https://u:xxxxx@h:8443/"},
		{"http://user@example.com/", "http://user@example.com/"},
		{"http://example.com/?access_token=abc&page=2", "http://example.com/?access_token=xxxxx&page=2"},
		{"http://example.com/?API_KEY=abc", "http://example.com/?API_KEY=xxxxx"},
		{"http://example.com/?page=2", "http://example.com/?page=2"},
		{"postgres://app:s3cret@db:5432/shop?sslmode=disable", "postgres://app:xxxxx@db:5432/shop?sslmode=disable"},
		{"127.0.0.1:8080", "127.0.0.1:8080"},
		{"not a url", "not a url"},
		// Unparsable (a bad port): the text is scrubbed instead.
		{"http://u:pw@h:99x/", "http://u:xxxxx@h:99x/"},
		{"echo http://admin:pw@h/ done", "echo http://admin:xxxxx@h/ done"},
		// A password nobody escaped runs to the last @, whatever it holds.
		{"http://bob:hunter2/xx@h/", "http://bob:xxxxx@h/"},
		{"http://bob:hunt er2@h/", "http://bob:xxxxx@h/"},
		{`http://bob:hun"ter2@h/`, "http://bob:xxxxx@h/"},
		{"http://bob:hun#ter2@h/", "http://bob:xxxxx@h/"},
		{"http://bob:hun?ter2@h/", "http://bob:xxxxx@h/"},
		{"http://bob:hun<ter2@h/", "http://bob:xxxxx@h/"},
		{"http://bob:a@b/c?d#e f@h:1/x", "http://bob:xxxxx@h:1/x"},
		{"postgres://app:s3/cr#t@db:5432/shop", "postgres://app:xxxxx@db:5432/shop"},
		// An @ in the path of a URL with a port cannot be told from a password's end.
		{"http://h:8080/users/@me", "http://h:xxxxx@me"},
		{"http://h:0#00@h/", "http://h:xxxxx@h/"},
	} {
		if got := shakedown.RedactURL(tc.in); got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestReplaceURLSecrets: each secret of a URL is handed out as written and replaced.
func TestReplaceURLSecrets(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		got      []string // what, secret
	}{
		{"http://user:hunter2@example.com/x", "http://user:{password}@example.com/x", []string{"password", "hunter2"}},
		{"https://u:p%40ss@h:8443", "https://u:{password}@h:8443", []string{"password", "p%40ss"}},
		{"http://u:a@b@h/?e=x@y", "http://u:{password}@h/?e=x@y", []string{"password", "a@b"}},
		{"http://user@example.com/", "http://user@example.com/", nil},
		{"http://h/?access_token=abc&page=2&API_KEY=k#frag", "http://h/?access_token={access_token}&page=2&API_KEY={API_KEY}#frag",
			[]string{"access_token", "abc", "API_KEY", "k"}},
		{"http://h/?token=&page=2", "http://h/?token=&page=2", nil},
		// The path and query of a URL whose start is a variable.
		{"${base}/x?token=abc", "${base}/x?token={token}", []string{"token", "abc"}},
		{"http://${h}/x?token=abc", "http://${h}/x?token={token}", []string{"token", "abc"}},
		{"not a url", "not a url", nil},
		// An unescaped / in the password: no parser finds it (RedactURL hides it all the same).
		{"http://bob:hunter2/xx@h/", "http://bob:hunter2/xx@h/", nil},
	} {
		var got []string
		out := shakedown.ReplaceURLSecrets(tc.in, func(what, secret string) string {
			got = append(got, what, secret)
			return "{" + what + "}"
		})
		if out != tc.want || !cmp.Equal(got, tc.got) {
			t.Errorf("ReplaceURLSecrets(%q) = %q, secrets %q; want %q, %q", tc.in, out, got, tc.want, tc.got)
		}
	}
}

// TestRedactorStringOddPasswords: the net finds a URL's password in free text, whatever
// characters it holds, when an @ follows it before white space.
func TestRedactorStringOddPasswords(t *testing.T) {
	for _, pw := range []string{"hunter2/xx", `hunt"er2`, "hunt#er2", "hunt?er2", "hunt<er2", "hunt>er2", "hunt'er2", "a/b?c#d"} {
		for _, text := range []string{
			"url http://bob:" + pw + "@h/: bad port",
			`url "http://bob:` + pw + `@h:1/x" is wrong`,
			"GET https://bob:" + pw + "@h/x?y=1 failed",
		} {
			got := (*shakedown.Redactor)(nil).String(text)
			if strings.Contains(got, pw) || !strings.Contains(got, "bob:xxxxx@h") {
				t.Errorf("String(%q) = %q, want the password as xxxxx", text, got)
			}
		}
	}
}

// TestSecretsOfUnparsableURL: the password of a URL that does not parse is a known secret
// of the experiment, so that the net hides it wherever it shows, a piece of an error too.
func TestSecretsOfUnparsableURL(t *testing.T) {
	x := &shakedown.Experiment{Loads: []*shakedown.LoadSpec{{Name: "c", URL: "http://bob:hunt er2/x@h:99999/"}}}
	var found bool
	for _, s := range x.Secrets() {
		found = found || s.Value == "hunt er2/x"
	}
	if !found {
		t.Errorf("Secrets() = %v, want the password %q", x.Secrets(), "hunt er2/x")
	}
}

func TestSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"Authorization": true, "Proxy-Authorization": true, "Cookie": true, "X-Api-Key": true,
		"access_token": true, "client_secret": true, "PGPASSWORD": true, "DB_PASSWD": true,
		"X-Session-Id": true,
		"Host":         false, "Content-Type": false, "Accept": false, "url": false, "method": false,
		"inject": false, "env": false, "headers": false, "kubeconfig": false,
	} {
		if got := shakedown.SecretName(name); got != want {
			t.Errorf("SecretName(%q) = %v, want %v", name, got, want)
		}
	}
}

// probeParams stands for a probe's or fault's parameters: the json names are the file's.
type probeParams struct {
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	Command []string          `json:"command,omitempty"`
	Token   string            `json:"token,omitempty"`
	Count   int               `json:"count,omitempty"`
}

func secretsExperiment() *shakedown.Experiment {
	return &shakedown.Experiment{
		Targets: []*shakedown.TargetSpec{{Name: "cache", Kind: "proxy",
			Params: &probeParams{URL: "http://ops:Pr0xyPass@127.0.0.1:8474"}}},
		Loads: []*shakedown.LoadSpec{{Name: "checkout", URL: "http://shop:L0adPass@127.0.0.1/checkout",
			Headers: map[string]string{"Authorization": "Bearer T0kenValue", "Accept": "text/html", "Cookie": "sid=C00kieValue; theme=dark"}}},
		SteadyState: []*shakedown.Check{
			{Name: "metric", Metric: "checkout.errors"},
			{Name: "probe", Probe: &shakedown.ProbeSpec{Type: "http", Params: &probeParams{
				URL: "http://127.0.0.1/?access_token=Qu3ryToken&page=1", Headers: map[string]string{"X-Api-Key": "K3yValue"}}}},
		},
		StopIf: []*shakedown.Check{{Name: "exec", Probe: &shakedown.ProbeSpec{Type: "exec", Params: &probeParams{
			Command: []string{"psql", "postgres://app:Db0Pass@db/shop"}, Env: map[string]string{"MODE": "fast", "N": "1"}}}}},
		Faults: []*shakedown.FaultSpec{{Name: "deploy", Type: "exec", Params: &probeParams{
			Token: "F1eldToken", Count: 3, Env: map[string]string{"SECRET_TOKEN": "EnvS3cret", "EMPTY": ""}}}},
		Expect: []*shakedown.Expectation{{Name: "alert", Alert: &shakedown.AlertSpec{
			Prometheus: "http://admin:Pr0mPass@127.0.0.1:9090", Name: "Down"}}},
	}
}

func TestExperimentSecrets(t *testing.T) {
	got := map[string][]string{}
	for _, s := range secretsExperiment().Secrets() {
		got[s.Path] = append(got[s.Path], s.Value)
	}
	want := map[string][]string{
		"targets.cache.proxy.url":                {"Pr0xyPass"},
		"load.checkout.url":                      {"L0adPass"},
		"load.checkout.headers.Authorization":    {"Bearer T0kenValue", "T0kenValue"},
		"load.checkout.headers.Cookie":           {"sid=C00kieValue; theme=dark", "C00kieValue", "dark"},
		"steady_state[1].http.url":               {"Qu3ryToken"},
		"steady_state[1].http.headers.X-Api-Key": {"K3yValue"},
		"stop_if[0].exec.command[1]":             {"Db0Pass"},
		"stop_if[0].exec.env.MODE":               {"fast"},
		"stop_if[0].exec.env.N":                  {"1"},
		"faults[0].with.env.SECRET_TOKEN":        {"EnvS3cret"},
		"faults[0].with.token":                   {"F1eldToken"},
		"expect[0].alert.prometheus":             {"Pr0mPass"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Secrets() (-want +got):\n%s", d)
	}
}

func TestRedactParams(t *testing.T) {
	plain := &probeParams{URL: "http://127.0.0.1/", Count: 2}
	if got := shakedown.RedactParams("faults[0].with", plain); got != any(plain) {
		t.Errorf("RedactParams of parameters without secrets = %#v, want them as they are", got)
	}
	p := &probeParams{URL: "http://u:pw@h/", Env: map[string]string{"PIN": "42"}, Headers: map[string]string{"Authorization": "Bearer x", "Accept": "*/*"}}
	b, err := json.Marshal(shakedown.RedactParams("faults[0].with", p))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"env":{"PIN":"xxxxx"},"headers":{"Accept":"*/*","Authorization":"xxxxx"},"url":"http://u:xxxxx@h/"}`
	if string(b) != want {
		t.Errorf("RedactParams as JSON = %s, want %s", b, want)
	}
	if p.Env["PIN"] != "42" || p.URL != "http://u:pw@h/" || p.Headers["Authorization"] != "Bearer x" {
		t.Errorf("RedactParams changed the parameters it was given: %+v", p)
	}
}

func TestRedactorString(t *testing.T) {
	r := shakedown.NewRedactor(
		shakedown.Secret{Path: "a", Value: "hunter2hunter2"},
		shakedown.Secret{Path: "b", Value: "hunter2"},
		shakedown.Secret{Path: "c", Value: "42"}, // too short for the net
	)
	for _, tc := range []struct{ in, want string }{
		{"login with hunter2hunter2 failed", "login with xxxxx failed"},
		{"hunter2 and hunter2", "xxxxx and xxxxx"},
		{"answer 42", "answer 42"},
		{`Get "http://bob:unknown@h/": refused`, `Get "http://bob:xxxxx@h/": refused`},
		{"GET http://h/?token=abc&x=1", "GET http://h/?token=xxxxx&x=1"},
		{"nothing secret", "nothing secret"},
		// A ${var} in a secret's place names it and holds none (an imported experiment's).
		{`url: "http://bob:${pw}@h/?token=${t}&x=1"`, `url: "http://bob:${pw}@h/?token=${t}&x=1"`},
		{"GET ${base}/x?token=${t}, tolerance 200", "GET ${base}/x?token=${t}, tolerance 200"},
		{"http://bob:${pw}x@h/ http://h/?token=${t}x", "http://bob:xxxxx@h/ http://h/?token=xxxxx"},
		{"http://bob:x${pw}@h/", "http://bob:xxxxx@h/"},
	} {
		if got := r.String(tc.in); got != tc.want {
			t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	var none *shakedown.Redactor
	if got := none.String("http://u:p@h/"); got != "http://u:xxxxx@h/" {
		t.Errorf("nil Redactor: String = %q, want the URL's password hidden", got)
	}
	r.Add(shakedown.Secret{Path: "d", Value: "later-added"})
	if got := r.String("x later-added"); got != "x xxxxx" {
		t.Errorf("after Add: String = %q, want the added value hidden", got)
	}
}

func TestRedactRecord(t *testing.T) {
	params := &probeParams{Command: []string{"echo", "S3cretValue"}}
	rec := &shakedown.Record{
		Schema:     shakedown.RecordSchema,
		ID:         "01run",
		Experiment: shakedown.ExperimentRef{Name: "exp", SHA256: "abc"},
		Verdict:    shakedown.VerdictFailed,
		Reason:     "check broke: token S3cretValue refused",
		Faults:     []shakedown.FaultRecord{{Name: "f", Params: params, Error: "exit 1: S3cretValue"}},
		Checks: []shakedown.CheckRecord{{Name: "c", PerPhase: map[shakedown.Phase]*shakedown.CheckPhaseRecord{
			shakedown.PhaseInject: {Observed: "S3cretValue seen", Samples: []shakedown.Sample{{Observed: "S3cretValue"}}}}}},
		Loads:    []shakedown.LoadRecord{{Name: "l", URL: "http://u:pw@h/"}},
		Redacted: []string{"faults[0].with.env.S3cretValue"},
	}
	shakedown.NewRedactor(shakedown.Secret{Value: "S3cretValue"}).Redact(rec)
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "S3cretValue"); n != 1 {
		t.Errorf("record shows the secret %d times, want once (in the redacted paths, kept as they are): %s", n, b)
	}
	for _, want := range []string{`"reason":"check broke: token xxxxx refused"`, `"error":"exit 1: xxxxx"`,
		`"command":["echo","xxxxx"]`, `"observed":"xxxxx seen"`, `"url":"http://u:xxxxx@h/"`,
		`"schema":"shakedown.run/v1"`, `"verdict":"failed"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("redacted record lacks %s: %s", want, b)
		}
	}
	if params.Command[1] != "S3cretValue" {
		t.Errorf("Redact changed the parameters the record pointed to: %v", params.Command)
	}
}

// FuzzRedactURL: whatever a URL's password, RedactURL shows it as xxxxx.
func FuzzRedactURL(f *testing.F) {
	f.Add("user", "hunter2", "example.com", "/x?y=1")
	f.Add("", "p@ss:w/rd", "h:8080", "")
	f.Add("bob", "hunter2/xx", "h:99999", "/")
	f.Fuzz(func(t *testing.T, user, password, host, path string) {
		u := &url.URL{Scheme: "http", User: url.UserPassword(user, password), Host: host, Path: path}
		s := u.String()
		if _, err := url.Parse(s); err != nil {
			return
		}
		got, err := url.Parse(shakedown.RedactURL(s))
		if err != nil {
			t.Fatalf("RedactURL(%q) = %q, not a URL: %v", s, shakedown.RedactURL(s), err)
		}
		if p, _ := got.User.Password(); p != shakedown.Redacted {
			t.Errorf("RedactURL(%q) has password %q, want %q", s, p, shakedown.Redacted)
		}
	})
}

// FuzzRedactorString: a known secret never survives String.
func FuzzRedactorString(f *testing.F) {
	f.Add("hunter22", "login hunter22 failed")
	f.Add("abab", "ababab")
	f.Fuzz(func(t *testing.T, secret, text string) {
		// The mask is made of x: a secret with an x could be spelled by masks and text.
		if len(secret) < shakedown.MinSecretLen || strings.Contains(secret, "x") {
			return
		}
		r := shakedown.NewRedactor(shakedown.Secret{Value: secret})
		in := text + secret + text
		if got := r.String(in); strings.Contains(got, secret) {
			t.Errorf("String(%q) = %q, still shows %q", in, got, secret)
		}
	})
}
