package shakedown

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Secrets are hidden from everything shakedown writes, in two layers:
//
//	experiment ──Secrets()──► []Secret{Path, Value} ──► Redactor (the net)
//	    │                                                   │
//	    └─ structural: RedactURL, RedactParams              └─ String, Redact: every known
//	       (a URL as user:xxxxx@…, a secret field as           value of MinSecretLen bytes or
//	       xxxxx, whatever its length), where a value          more, and any URL password,
//	       is shown as the field it is                         in any text: an error quoting
//	                                                           a command's stderr, say
//
// What is a secret: the password of any URL, and the value of its query parameters whose
// names look like credentials (SecretName); the values of headers, parameters and map
// entries whose names look like credentials; every value of an env: map; and of a header
// value "Bearer abc" or a cookie "a=b; c=d", the credential parts too.

// Redacted is what a hidden value is written as, as net/url writes a URL's password.
const Redacted = "xxxxx"

// MinSecretLen is the length below which a secret value is hidden only where it is shown
// as a field (structurally), not replaced in free text by the net: replacing every "1" or
// "ab" in a report would garble it and hide nothing a guess would not find.
const MinSecretLen = 4

// Secret is one secret value of an experiment and the field path it was found at, in the
// form validation problems use ("load.checkout.headers.Authorization",
// "faults[0].with.env.TOKEN").
type Secret struct {
	Path  string
	Value string
}

// secretWords are the parts of names of headers, query parameters and fields that hold
// credentials.
var secretWords = []string{"auth", "cookie", "token", "secret", "passw", "pwd", "key",
	"credential", "session", "signature"}

// SecretName reports whether a header, query parameter, field or variable called name
// looks like it holds a credential: Authorization, Cookie, X-Api-Key, access_token,
// client_secret, password, …
func SecretName(name string) bool {
	n := strings.ToLower(name)
	for _, w := range secretWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// RedactURL returns s with the password of a URL in it and the values of its secret-like
// query parameters written as xxxxx ("http://user:xxxxx@host/?token=xxxxx"). Text that is
// not a URL with such parts is returned as it is.
func RedactURL(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	u, err := url.Parse(s)
	if pre, _, post, ok := splitPassword(s); ok {
		// Where the password ends is a guess but when the URL parses with a password and
		// one @: "http://u:a@b/c#d@h/" parses, as a password "a" of host b, yet may be the
		// password "a@b/c#d" nobody escaped; "http://u:pa#ss@h/" parses with no password.
		// The password a variable put there may hold anything: hide all of it.
		if err != nil || strings.Count(s, "@") > 1 {
			return scrubURLs(pre + Redacted + post)
		}
		if _, has := u.User.Password(); !has {
			return scrubURLs(pre + Redacted + post)
		}
	}
	if err != nil || u.Host == "" && u.User == nil {
		return scrubURLs(s)
	}
	changed := false
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), Redacted)
		changed = true
	}
	if u.RawQuery != "" {
		q, qchanged := redactQuery(u.RawQuery)
		if qchanged {
			u.RawQuery = q
			changed = true
		}
	}
	if !changed {
		return scrubURLs(s) // what parsed as one URL may hold another
	}
	return u.String()
}

// ReplaceURLSecrets returns s, a URL (or the path and query of one whose start is a
// ${var}), with its password and the value of each secret-like query parameter replaced, as
// written, by what replace returns for it; what is "password" or the parameter's name. The
// password is the userinfo's after its first ':' and up to the authority's last '@', as
// net/url reads it; one that no parser can tell apart (an unescaped / in it) is not found,
// though RedactURL hides it.
func ReplaceURLSecrets(s string, replace func(what, secret string) string) string {
	start, tail := "", s
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		authority := rest[:end]
		if at := strings.LastIndexByte(authority, '@'); at >= 0 {
			if user, pw, ok := strings.Cut(authority[:at], ":"); ok && pw != "" {
				authority = user + ":" + replace("password", pw) + authority[at:]
			}
		}
		start, tail = scheme+"://"+authority, rest[end:]
	}
	path, query, hasQuery := strings.Cut(tail, "?")
	if !hasQuery {
		return start + tail
	}
	query, frag, hasFrag := strings.Cut(query, "#")
	parts := strings.Split(query, "&")
	for i, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		if !ok || v == "" {
			continue
		}
		if name, err := url.QueryUnescape(k); err == nil && SecretName(name) {
			parts[i] = k + "=" + replace(name, v)
		}
	}
	out := start + path + "?" + strings.Join(parts, "&")
	if hasFrag {
		out += "#" + frag
	}
	return out
}

// urlStart finds the scheme://user: a URL with a password opens with.
var urlStart = regexp.MustCompile(`^\s*[A-Za-z][A-Za-z0-9+.-]*://[^/?#@:]*:`)

// splitPassword cuts s, a value given as one URL that may not parse, around its password:
// what comes before it (scheme://user:), the password, and what follows (@host/…). The
// password is taken to run to the last @ of s, since it may hold anything — a /, a space,
// a # — when it came from a variable and no one escaped it. ok is false when s does not
// open with scheme://user: or has no @ after that.
func splitPassword(s string) (pre, password, post string, ok bool) {
	m := urlStart.FindStringIndex(s)
	if m == nil {
		return "", "", "", false
	}
	at := strings.LastIndexByte(s, '@')
	if at < m[1] {
		return "", "", "", false
	}
	return s[:m[1]], s[m[1]:at], s[at:], true
}

// HasUserinfo reports whether s, a value given as one URL, carries a user name or a
// password (scheme://user@…, scheme://user:password@…), whether or not it parses. An error
// of net/url about such a value must not be shown: it quotes pieces of it, the password's
// among them ("invalid port \":hunter2\" after host").
func HasUserinfo(s string) bool {
	_, rest, ok := strings.Cut(s, "://")
	return ok && strings.Contains(rest, "@")
}

// redactQuery writes the values of the secret-like parameters of a raw query as xxxxx,
// keeping the order and encoding of the others.
func redactQuery(raw string) (string, bool) {
	parts := strings.Split(raw, "&")
	changed := false
	for i, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		if !ok || v == "" {
			continue
		}
		if name, err := url.QueryUnescape(k); err == nil && SecretName(name) {
			parts[i] = k + "=" + Redacted
			changed = true
		}
	}
	return strings.Join(parts, "&"), changed
}

// RedactArgs returns argv with RedactURL applied to each argument, for showing a command.
func RedactArgs(argv []string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = RedactURL(a)
	}
	return out
}

// urlSecrets returns the secrets of a URL: its password and the values of its secret-like
// query parameters, each as written and decoded.
func urlSecrets(s string) []string {
	if !strings.Contains(s, "://") {
		return nil
	}
	var out []string
	for _, m := range urlPassword.FindAllStringSubmatch(s, -1) {
		out = append(out, m[2])
	}
	if _, p, _, ok := splitPassword(s); ok && p != "" {
		out = append(out, p)
	}
	for _, m := range secretQuery.FindAllStringSubmatch(s, -1) {
		out = append(out, m[2])
	}
	if u, err := url.Parse(s); err == nil {
		if p, ok := u.User.Password(); ok {
			out = append(out, p)
		}
		for k, vs := range u.Query() {
			if SecretName(k) {
				out = append(out, vs...)
			}
		}
	}
	return out
}

var (
	// urlPassword finds scheme://user:password@ in text; group 1 is what comes before the
	// password. A password of the characters a URL's password is made of ends at the
	// first @; one with a / ? # " ' < or > in it (never escaped, from a variable, say) runs
	// to the last @ before white space.
	urlPassword = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^\s/?#@:"'<>]*):([^\s/?#@"'<>]+|[^\s@]*[/?#"'<>]\S*)@`)
	// secretQuery finds a query parameter with a secret-like name in text; group 1 is the
	// name and "=".
	secretQuery = regexp.MustCompile(`(?i)([?&][^\s=&#"'<>]*(?:` + strings.Join(secretWords, "|") + `)[^\s=&#"'<>]*=)([^\s&#"'<>]+)`)
)

// scrubURLs writes the passwords of URLs in text, and their secret-like query parameters,
// as xxxxx, whether or not they are known secrets.
func scrubURLs(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	// "http://h:8080/users/@me" is hidden too, as "http://h:xxxxx@me": it cannot be told
	// from "http://bob:8080/xx@h" with the password "8080/xx".
	s = scrubGroup(urlPassword, s, ":", "@")
	return scrubGroup(secretQuery, s, "", "")
}

// scrubGroup replaces, in each match of re in s, its second group by xxxxx, its first kept
// and followed by sep, the match ending with end. A second group that is a ${var} and at most
// the punctuation that follows one in text is left as it is: it names a secret, as an
// imported experiment writes one, and holds none.
func scrubGroup(re *regexp.Regexp, s, sep, end string) string {
	return re.ReplaceAllStringFunc(s, func(m string) string {
		g := re.FindStringSubmatch(m)
		if varRefOnly.MatchString(g[2]) {
			return m
		}
		return g[1] + sep + Redacted + end
	})
}

// varRefOnly is a ${var} alone, or followed by the punctuation text puts after a value.
var varRefOnly = regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_.-]*\}[,.;:)\]]?$`)

// credentials returns the secrets a secret value stands for: the value itself and its URL
// secrets; and, for a value under a credential-like name (a header, say), the credential
// of "Scheme credential" and the values of a cookie list "a=b; c=d".
func credentials(path, v string, named bool) []Secret {
	out := []Secret{{Path: path, Value: v}}
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" && s != v {
			out = append(out, Secret{Path: path, Value: s})
		}
	}
	for _, s := range urlSecrets(v) {
		add(s)
	}
	if !named {
		return out
	}
	if f := strings.Fields(v); len(f) == 2 && !strings.Contains(f[0], "=") {
		add(f[1])
	}
	if strings.Contains(v, "=") {
		for _, kv := range strings.Split(v, ";") {
			if _, val, ok := strings.Cut(kv, "="); ok {
				add(val)
			}
		}
	}
	return out
}

// hide returns v, a value decoded from JSON found at path under the field called field,
// with its secrets written as xxxxx; it adds each secret it finds to found. It changes
// nothing in v.
func hide(path, field string, v any, found *[]Secret) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for _, k := range slices.Sorted(maps.Keys(v)) {
			p := path + "." + k
			if s, ok := v[k].(string); ok && (field == "env" || SecretName(k)) {
				if s == "" {
					out[k] = s
					continue
				}
				*found = append(*found, credentials(p, s, SecretName(k))...)
				out[k] = Redacted
				continue
			}
			out[k] = hide(p, k, v[k], found)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = hide(fmt.Sprintf("%s[%d]", path, i), field, x, found)
		}
		return out
	case string:
		ss := urlSecrets(v)
		if len(ss) == 0 {
			return v
		}
		for _, s := range ss {
			*found = append(*found, Secret{Path: path, Value: s})
		}
		return RedactURL(v)
	}
	return v
}

// generic returns v as encoding/json decodes it into an any (maps, slices, strings,
// json.Number), or nil when it does not encode.
func generic(v any) (any, bool) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	if dec.Decode(&out) != nil {
		return nil, false
	}
	return out, true
}

// RedactParams returns a fault's, target's or probe's decoded parameters with their
// secrets written as xxxxx, for showing them (in the run record, say): params itself when
// it holds no secret, else a copy as JSON would read it, which encodes to the same JSON
// but for the hidden values. path is where the parameters are in the file
// ("faults[0].with"). It changes nothing in params.
func RedactParams(path string, params any) any {
	g, ok := generic(params)
	if !ok {
		return params
	}
	var found []Secret
	out := hide(path, "", g, &found)
	if len(found) == 0 {
		return params
	}
	return out
}

// Secrets returns every secret value of the experiment, with the field path it is at.
func (x *Experiment) Secrets() []Secret {
	var found []Secret
	params := func(path string, p any) {
		if g, ok := generic(p); ok {
			hide(path, "", g, &found)
		}
	}
	for _, t := range x.Targets {
		params("targets."+t.Name+"."+t.Kind, t.Params)
	}
	for _, l := range x.Loads {
		headers := map[string]any{}
		for k, v := range l.Headers {
			headers[k] = v
		}
		hide("load."+l.Name, "", map[string]any{"url": l.URL, "headers": headers, "body": l.Body}, &found)
	}
	checks := func(section string, cs []*Check) {
		for i, c := range cs {
			if c.Probe != nil {
				params(fmt.Sprintf("%s[%d].%s", section, i, c.Probe.Type), c.Probe.Params)
			}
		}
	}
	checks("steady_state", x.SteadyState)
	checks("stop_if", x.StopIf)
	for i, f := range x.Faults {
		params(fmt.Sprintf("faults[%d].with", i), f.Params)
	}
	for i, e := range x.Expect {
		switch {
		case e.Alert != nil:
			params(fmt.Sprintf("expect[%d].alert", i), e.Alert)
		case e.Probe != nil:
			params(fmt.Sprintf("expect[%d].%s", i, e.Probe.Type), e.Probe.Params)
		}
	}
	seen := map[Secret]bool{}
	return slices.DeleteFunc(found, func(s Secret) bool {
		dup := seen[s]
		seen[s] = true
		return dup
	})
}

// SecretPaths returns the sorted, distinct field paths of secrets.
func SecretPaths(secrets []Secret) []string {
	var out []string
	for _, s := range secrets {
		out = append(out, s.Path)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Redactor is the net: it hides a set of known secret values, and the password of any URL,
// in text and in the strings of records, events and reports. It is safe for concurrent
// use; secrets may be added while it is in use.
type Redactor struct {
	mu     sync.RWMutex
	values map[string]bool
	rep    *strings.Replacer // nil when no value is known
}

// NewRedactor returns a Redactor that knows secrets.
func NewRedactor(secrets ...Secret) *Redactor {
	r := &Redactor{values: map[string]bool{}}
	r.Add(secrets...)
	return r
}

// Add makes the Redactor hide secrets too. Values shorter than MinSecretLen bytes are left
// to structural redaction.
func (r *Redactor) Add(secrets ...Secret) {
	r.mu.Lock()
	defer r.mu.Unlock()
	added := false
	for _, s := range secrets {
		if len(s.Value) >= MinSecretLen && !r.values[s.Value] {
			r.values[s.Value] = true
			added = true
		}
	}
	if !added {
		return
	}
	vs := make([]string, 0, len(r.values))
	for v := range r.values {
		vs = append(vs, v)
	}
	// Longest first: a secret that holds another is replaced whole (the Replacer tries
	// its pairs in order at each position).
	sort.Slice(vs, func(i, j int) bool {
		if len(vs[i]) != len(vs[j]) {
			return len(vs[i]) > len(vs[j])
		}
		return vs[i] < vs[j]
	})
	pairs := make([]string, 0, 2*len(vs))
	for _, v := range vs {
		pairs = append(pairs, v, Redacted)
	}
	r.rep = strings.NewReplacer(pairs...)
}

// String returns s with every known secret value and every URL password in it written as
// xxxxx. A nil Redactor hides URL passwords only.
func (r *Redactor) String(s string) string {
	s = scrubURLs(s)
	if r == nil {
		return s
	}
	r.mu.RLock()
	rep := r.rep
	r.mu.RUnlock()
	if rep == nil {
		return s
	}
	return rep.Replace(s)
}

// Redact applies String to every string reachable from v, a pointer to a struct such as a
// *Record, a *Event or a report, in place: exported fields, slice elements, map values (not
// keys) and what pointers point to. Values in interface fields (a fault's Params) are
// replaced by a redacted copy as JSON reads them, since they may be shared. Left alone are
// named string types, which are vocabularies (Verdict, Phase), and fields tagged
// `redact:"keep"` (identifiers such as a run's ID and schema).
func (r *Redactor) Redact(v any) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return
	}
	r.redactValue(rv.Elem())
}

var stringType = reflect.TypeFor[string]()

func (r *Redactor) redactValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		if v.Type() == stringType && v.CanSet() {
			if s := v.String(); s != "" {
				v.SetString(r.String(s))
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			r.redactValue(v.Elem())
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() || f.Tag.Get("redact") == "keep" {
				continue
			}
			r.redactValue(v.Field(i))
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			r.redactValue(v.Index(i))
		}
	case reflect.Map:
		if v.Type().Elem().Kind() == reflect.Pointer {
			for _, k := range v.MapKeys() {
				r.redactValue(v.MapIndex(k))
			}
			return
		}
		for _, k := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			r.redactValue(e)
			v.SetMapIndex(k, e)
		}
	case reflect.Interface:
		if v.IsNil() || !v.CanSet() {
			return
		}
		g, ok := generic(v.Interface())
		if !ok {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		v.Set(reflect.ValueOf(r.redactGeneric(g)))
	}
}

// redactGeneric applies String to the strings of a value JSON decoded into an any.
func (r *Redactor) redactGeneric(v any) any {
	switch v := v.(type) {
	case string:
		return r.String(v)
	case map[string]any:
		for k, x := range v {
			v[k] = r.redactGeneric(x)
		}
	case []any:
		for i, x := range v {
			v[i] = r.redactGeneric(x)
		}
	}
	return v
}
