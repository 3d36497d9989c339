package fis

import (
	"fmt"
	"strings"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/importer"
)

// secret is a secret the mapping file writes out, which the experiments it goes into carry
// as the ${var} name instead.
type secret struct {
	name, value string
	what        string // for the header: "password of the URL at line 4 of map.yaml"
}

// hideSecrets writes each secret of the mapping file's targets and alarms — a URL's password
// or token, a credential-like field's value (a header's), an env: value — as a ${var} of its
// own, so that no experiment written carries it, and it reads the same in a file as on a
// terminal, where shakedown hides what looks like a password. A secret that is a ${var}
// already stays as it is.
func (m *mapping) hideSecrets() {
	for _, set := range []map[string]*node{m.targets, m.alarms} {
		for _, n := range set {
			m.hide(n, "", false, false)
		}
	}
}

// nameMaps are the fields whose values map names to values that are not secrets: the keys
// of a label or selector map (author:, auth-tier:, keycloak:) say nothing of their values.
var nameMaps = map[string]bool{"labels": true, "selector": true, "match_labels": true, "annotations": true, "attrs": true}

// hide walks n, the value of the field key; secret says the field's values are secrets,
// names that n's keys are names (a label's), which do not make their values secrets. Their
// values' URLs still have their secrets hidden.
func (m *mapping) hide(n *node, key string, secret, names bool) {
	switch n.kind {
	case mapNode:
		for i, k := range n.keys {
			isSecret := secret || !names && (k.str == "env" || shakedown.SecretName(k.str))
			m.hide(n.vals[i], k.str, isSecret, nameMaps[k.str])
		}
	case seqNode:
		for _, it := range n.items {
			m.hide(it, key, secret, names)
		}
	case scalarNode:
		s := n.str
		if secret {
			s = m.secretVar(n, key, key+" value", s)
		} else {
			s = importer.ReplaceURLSecrets(s, importer.URLSecret(func(key, what, sec string) string {
				return m.secretVar(n, key, what, sec)
			}))
		}
		if s != n.str {
			n.str, n.plain = s, false
		}
	}
}

// secretVar records the secret s, read at n, and returns the ${var} that stands for it. A
// header's value keeps its scheme ("Bearer ${…}").
func (m *mapping) secretVar(n *node, key, what, s string) string {
	if s == "" || strings.Contains(s, "${") {
		return s
	}
	return importer.HideCredential(s, func(cred string) string {
		if cred == "" {
			return cred
		}
		name := importer.SecretVar(key, n.pos.Line, m.taken)
		m.secrets = append(m.secrets, secret{name: name, value: cred,
			what: fmt.Sprintf("%s at line %d of the mapping file", what, n.pos.Line)})
		return "${" + name + "}"
	})
}

func (m *mapping) taken(name string) bool {
	for _, s := range m.secrets {
		if s.name == name {
			return true
		}
	}
	return false
}

// secretsOf writes the header lines of the secrets an experiment's body uses, and returns
// their values, for validating it.
func (m *mapping) secretsOf(sb *strings.Builder, body string) map[string]string {
	vars := map[string]string{}
	for _, s := range m.secrets {
		if !strings.Contains(body, "${"+s.name+"}") {
			continue
		}
		if len(vars) == 0 {
			importer.Comment(sb, "", "Secrets of the mapping file, each a variable (shakedown run … --var NAME=VALUE):")
		}
		importer.Comment(sb, "", "  "+s.name+": the "+s.what)
		vars[s.name] = s.value
	}
	return vars
}
