package fis

import (
	"fmt"
	"strings"
)

// mapping is the mapping file: what the template's cloud identities are here.
//
//	targets:                                   # by FIS target name, ARN, resource id, tag or reference
//	  "target:myInstance": {process: {name: web}}
//	  "instance/i-0abc": {process: {pidfile: /run/web.pid}}
//	  "tag:FIS-Target=true": {container: {labels: {app: web}}}
//	  "ref:WebInstance": {netns: {name: web}}
//	alarms:                                    # CloudWatch alarms (ARN, name or reference)
//	  "arn:aws:cloudwatch:us-east-1:123456789012:alarm:HighErrors":
//	    alert: {prometheus: http://127.0.0.1:9090, name: HighErrorRate}
//	  NetworkIn: {metric: checkout.errors, max: 20%, for: 5s}
//	prefix_lists: {pl-0abc: [10.1.0.0/16]}      # for disrupt-connectivity's scope prefix-list
//	memory: 2gib                               # the targets' memory, for FIS's memory percentages
//	fill_path: /var/tmp                         # where disk fills are made (default /tmp)
type mapping struct {
	file        string
	targets     map[string]*node
	alarms      map[string]*node
	prefixLists map[string]*node
	memory      string
	fillPath    string
	secrets     []secret // those of targets and alarms, each a ${var} in them now
}

// Target kinds a mapped target may be of (shakedown's target kinds).
var targetKinds = []string{"process", "proxy", "netns", "host", "container", "pods", "deployment", "node"}

func (r *reader) mapping(root *node) *mapping {
	m := &mapping{file: r.file, targets: map[string]*node{}, alarms: map[string]*node{}, prefixLists: map[string]*node{}}
	if root == nil {
		return m
	}
	fs := r.fields(root, "", "targets", "alarms", "prefix_lists", "memory", "fill_path")
	if v, ok := fs["targets"]; ok {
		r.keyed(v, "targets", m.targets, func(val *node, path string) {
			if val.kind != mapNode {
				r.addf(val.pos, path, "want a target such as {process: {name: web}}, not %s", val.kind)
				return
			}
			if mappedKind(val) == "" {
				r.addf(val.pos, path, "a target needs one of %s", strings.Join(targetKinds, ", "))
			}
		})
	}
	if v, ok := fs["alarms"]; ok {
		r.keyed(v, "alarms", m.alarms, func(val *node, path string) {
			afs := r.fields(val, path, "name", "alert", "metric", "min", "max", "for", "window", "every", "timeout", "http", "tcp", "exec", "prometheus")
			if afs["alert"] == nil && afs["metric"] == nil && afs["http"] == nil && afs["tcp"] == nil && afs["exec"] == nil && afs["prometheus"] == nil {
				r.addf(val.pos, path, "an alarm needs alert, metric, prometheus, http, tcp or exec")
			}
			if a := afs["alert"]; a != nil {
				r.fields(a, join(path, "alert"), "prometheus", "name", "labels")
				if a.get("prometheus") == nil || a.get("name") == nil {
					r.addf(a.pos, join(path, "alert"), "an alert needs prometheus (its URL) and name")
				}
				for _, k := range []string{"prometheus", "name"} {
					if v := a.get(k); v != nil && v.kind != scalarNode {
						r.addf(v.pos, join(join(path, "alert"), k), "want a value, not %s", v.kind)
					}
				}
			}
		})
	}
	if v, ok := fs["prefix_lists"]; ok {
		r.keyed(v, "prefix_lists", m.prefixLists, func(val *node, path string) {
			if val.kind != seqNode {
				r.addf(val.pos, path, "want a list of CIDRs, not %s", val.kind)
			}
		})
	}
	if v, ok := fs["memory"]; ok {
		m.memory, _ = r.text(v, "memory")
	}
	if v, ok := fs["fill_path"]; ok {
		m.fillPath, _ = r.text(v, "fill_path")
	}
	m.hideSecrets()
	return m
}

// keyed reads a mapping of names to values into dst, checking each value with check.
func (r *reader) keyed(n *node, path string, dst map[string]*node, check func(*node, string)) {
	if n.kind == nullNode {
		return
	}
	if n.kind != mapNode {
		r.addf(n.pos, path, "want a mapping, not %s", n.kind)
		return
	}
	for i, k := range n.keys {
		check(n.vals[i], join(path, k.str))
		dst[k.str] = n.vals[i]
	}
}

// mappedKind returns the target kind of a mapped target, "" when it names none.
func mappedKind(body *node) string {
	for _, k := range body.keys {
		if contains(targetKinds, k.str) {
			return k.str
		}
	}
	return ""
}

// resourceID is the resource part of an ARN: "instance/i-0abc" of
// "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc".
func resourceID(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) == 6 && parts[0] == "arn" {
		return parts[5]
	}
	return ""
}

// mapped is what a FIS target is here.
type mapped struct {
	key  string // the mapping file's key that said so
	body *node
	kind string
}

// lookup finds what target t is here. The keys tried, in order: "target:NAME", each ARN (or
// reference) and its resource id, then "tag:K=V,…" with all of the target's tags.
func (m *mapping) lookup(t *target) (*mapped, []string) {
	if b, ok := m.targets["target:"+t.name]; ok {
		return &mapped{key: "target:" + t.name, body: b, kind: mappedKind(b)}, nil
	}
	var found *mapped
	var missing []string
	for _, a := range t.arns {
		keys := []string{a.str}
		if a.ref != "" {
			keys = []string{a.ref}
		} else if id := resourceID(a.str); id != "" {
			keys = append(keys, id)
		}
		var hit *mapped
		for _, k := range keys {
			if b, ok := m.targets[k]; ok {
				hit = &mapped{key: k, body: b, kind: mappedKind(b)}
				break
			}
		}
		if hit == nil {
			missing = append(missing, keys[len(keys)-1])
			continue
		}
		if found == nil {
			found = hit
		} else if flow(found.body) != flow(hit.body) {
			// Two ARNs of one FIS target stand for different things here: one shakedown
			// target cannot be both.
			return nil, []string{"target:" + t.name}
		}
	}
	if len(t.arns) > 0 {
		if len(missing) > 0 {
			return nil, missing
		}
		return found, nil
	}
	if len(t.tags) > 0 {
		k := "tag:" + strings.Join(t.tags, ",")
		if b, ok := m.targets[k]; ok {
			return &mapped{key: k, body: b, kind: mappedKind(b)}, nil
		}
		return nil, []string{k}
	}
	return nil, []string{"target:" + t.name}
}

// suggestion is the line to add to the mapping file for a target of FIS resource type rt.
func suggestion(key string, t *target) string {
	body := "{process: {name: NAME}}"
	switch {
	case strings.HasPrefix(t.resourceType, "aws:ecs:"):
		body = "{container: {labels: {app: NAME}}}"
	case t.resourceType == "aws:eks:pod":
		ns, labels := "default", "{app: NAME}"
		if t.params != nil {
			if v := t.params.get("namespace"); v != nil && v.kind == scalarNode {
				ns = v.str
			}
			if st, sv := t.params.get("selectorType"), t.params.get("selectorValue"); st != nil && sv != nil && st.str == "labelSelector" {
				labels = labelsFlow(sv.str)
			}
		}
		body = fmt.Sprintf("{pods: {namespace: %s, labels: %s}}", scalar(ns, false), labels)
	case t.resourceType == "aws:eks:nodegroup":
		body = "{node: {labels: {pool: NAME}}}"
	case t.resourceType == "aws:ec2:subnet" || t.resourceType == "aws:ec2:vpc":
		body = "{netns: {name: NAME}}"
	}
	return fmt.Sprintf("%s: %s", scalar(key, false), body)
}

// labelsFlow writes a Kubernetes label selector "app=web,tier=front" as a flow mapping.
func labelsFlow(sel string) string {
	var parts []string
	for _, kv := range strings.Split(sel, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return "{app: NAME}"
		}
		parts = append(parts, scalar(strings.TrimSpace(k), false)+": "+scalar(strings.TrimSpace(v), false))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// alarm finds what a CloudWatch alarm (an ARN, or a reference) is here: by the ARN or
// reference, then by the alarm's name.
func (m *mapping) alarm(v *node) (key string, body *node, try string) {
	keys := []string{v.str}
	if v.ref != "" {
		keys = []string{v.ref}
	} else if i := strings.LastIndex(v.str, ":alarm:"); i >= 0 {
		keys = append(keys, v.str[i+len(":alarm:"):])
	}
	for _, k := range keys {
		if b, ok := m.alarms[k]; ok {
			return k, b, ""
		}
	}
	return "", nil, keys[len(keys)-1]
}
