package chaostoolkit

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/importer"
	"github.com/shakedown-dev/shakedown/spec"
)

// variable is a name ${name} may stand for: a key of the configuration or of a secrets scope.
type variable struct {
	name   string
	source string // what the header says of it
	value  string // for validation, when known
	known  bool
	secret bool
}

// varName is what shakedown's ${vars} may be called.
var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

var varRef = regexp.MustCompile(`\$\{([^}]*)\}`)

// configuration reads the configuration: each key a ${var}, its value known when inline or
// an environment variable's default.
func (r *reader) configuration(v spec.Value) {
	fs, ok := v.Mapping()
	if !ok {
		return
	}
	for _, f := range fs {
		vr := &variable{name: f.Key}
		line := f.Value.Pos().Line
		switch f.Value.Kind() {
		case "mapping":
			r.fromEnv(f.Value, vr, "configuration", line)
		case "list":
			vr.source = fmt.Sprintf("configuration (line %d) is a list: only Python extensions read it", line)
		default:
			s, _ := f.Value.String()
			vr.value, vr.known = s, true
			vr.source = fmt.Sprintf("configuration (line %d): %s", line, str(s))
			if looksSecret(f.Key, s) {
				vr.secret = true
				vr.source = fmt.Sprintf("configuration (line %d), a password or token: pass --var %s=VALUE", line, f.Key)
			}
		}
		r.vars[f.Key] = vr
	}
}

// fromEnv reads a {type: env, key, default} value; any other mapping is data for Python.
func (r *reader) fromEnv(v spec.Value, vr *variable, what string, line int) {
	kfs, _ := v.Mapping()
	typ := ""
	for _, kf := range kfs {
		if kf.Key == "type" {
			typ, _ = kf.Value.String()
		}
	}
	switch typ {
	case "env":
		fs, ok := v.Fields([]string{"type", "key", "default", "env_var_type"}, "key")
		if !ok {
			return
		}
		key := r.text(fs, "key")
		vr.source = fmt.Sprintf("%s (line %d) from the environment variable %s (type: env): pass --var %s=\"$%s\"", what, line, key, vr.name, key)
		if d, ok := fs["default"]; ok {
			if s, ok := r.scalar(d.Value); ok {
				vr.value, vr.known = s, true
				vr.secret = vr.secret || looksSecret(vr.name, s)
				if !vr.secret {
					vr.source += fmt.Sprintf(", or it is %s", str(s))
				}
			}
		}
	case "vault":
		v.Fields([]string{"type", "path", "key"}, "path")
		vr.source = fmt.Sprintf("%s (line %d) read from HashiCorp Vault by Chaos Toolkit: pass --var %s=VALUE", what, line, vr.name)
	default:
		vr.source = fmt.Sprintf("%s (line %d) is a mapping: only Python extensions read it", what, line)
	}
}

// secrets reads the secrets: each key of each scope a ${var} whose value the output never
// says.
func (r *reader) secrets(v spec.Value) {
	scopes, ok := v.Mapping()
	if !ok {
		return
	}
	for _, sc := range scopes {
		keys, ok := sc.Value.Mapping()
		if !ok {
			continue
		}
		for _, k := range keys {
			if _, dup := r.vars[k.Key]; dup {
				continue // the configuration wins, as in Chaos Toolkit
			}
			vr := &variable{name: k.Key, secret: true}
			line := k.Value.Pos().Line
			switch k.Value.Kind() {
			case "mapping":
				r.fromEnv(k.Value, vr, "secret "+sc.Key+"."+k.Key, line)
			case "list":
				vr.source = fmt.Sprintf("secret %s.%s (line %d) is a list: only Python extensions read it", sc.Key, k.Key, line)
			default:
				s, _ := k.Value.String()
				vr.value, vr.known = s, true
				vr.source = fmt.Sprintf("secret %s.%s (line %d), inline in the experiment: pass --var %s=VALUE", sc.Key, k.Key, line, k.Key)
			}
			r.vars[k.Key] = vr
		}
	}
}

// looksSecret reports whether a value called name is a credential, or holds one (a URL's
// password, a token in its query).
func looksSecret(name, value string) bool {
	return shakedown.SecretName(name) || shakedown.RedactURL(value) != value
}

// hide returns a secret the experiment writes out, read at v, as a ${var} of its own: the
// output never carries it, and so reads the same in a file as on a terminal, where shakedown
// hides what looks like a password. Its value is known, for validating the result; the
// header says which --var to pass. what says what it is ("password of the URL"), for the
// header, and key names the variable. A secret that is a ${var} already stays as it is.
func (r *reader) hide(v spec.Value, key, what, secret string) string {
	if secret == "" || strings.Contains(secret, "${") {
		return secret
	}
	line := v.Pos().Line
	name := importer.SecretVar(key, line, func(n string) bool { return r.vars[n] != nil })
	r.vars[name] = &variable{name: name, value: secret, known: true, secret: true,
		source: fmt.Sprintf("the %s at line %d: pass --var %s=VALUE", what, line, name)}
	r.use(name)
	return "${" + name + "}"
}

// hideURL writes the password and the credential-like query parameters of u, a URL read at v,
// as ${vars} of their own.
func (r *reader) hideURL(v spec.Value, u string) string {
	return shakedown.ReplaceURLSecrets(u, r.urlSecret(v))
}

// hideURLs does what hideURL does to each URL among the words of s.
func (r *reader) hideURLs(v spec.Value, s string) string {
	return importer.ReplaceURLSecrets(s, r.urlSecret(v))
}

func (r *reader) urlSecret(v spec.Value) func(what, secret string) string {
	return importer.URLSecret(func(key, what, secret string) string { return r.hide(v, key, what, secret) })
}

// hideHeader writes the value of a credential-like header read at v as a ${var} of its own,
// its scheme ("Bearer") kept.
func (r *reader) hideHeader(v spec.Value, name, val string) string {
	if !shakedown.SecretName(name) {
		return val
	}
	return importer.HideCredential(val, func(cred string) string { return r.hide(v, name, name+" header", cred) })
}

// subst reads a string the output carries: its ${name}s stay shakedown ${vars}, each checked
// and remembered.
func (r *reader) subst(v spec.Value) (string, bool) {
	s, ok := r.scalar(v)
	if !ok {
		return "", false
	}
	return s, r.refs(v, s)
}

// refs checks and remembers the ${name}s of s, read at v.
func (r *reader) refs(v spec.Value, s string) bool {
	ok := true
	for _, m := range varRef.FindAllStringSubmatch(s, -1) {
		name := m[1]
		if !varName.MatchString(name) {
			r.addf(v, "${%s}: a shakedown variable name is letters, digits, '_', '.' and '-', starting with a letter or '_'", name)
			ok = false
			continue
		}
		r.use(name)
	}
	if strings.Contains(s, "${") && !strings.Contains(s[strings.LastIndex(s, "${"):], "}") {
		r.addf(v, "unterminated ${ in %q", s)
		ok = false
	}
	return ok
}

func (r *reader) use(name string) {
	vr := r.vars[name]
	if vr == nil {
		vr = &variable{name: name, source: "not declared in the experiment's configuration or secrets: pass --var " + name + "=VALUE"}
		r.vars[name] = vr
	}
	for _, u := range r.used {
		if u == name {
			return
		}
	}
	r.used = append(r.used, name)
}
