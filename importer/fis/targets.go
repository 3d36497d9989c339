package fis

import (
	"fmt"
	"sort"
	"strings"
)

// options reads experimentOptions: what each option means here is a note.
func (r *reader) options(n *node, path string, t *template) {
	fs := r.fields(n, path, "accountTargeting", "emptyTargetResolutionMode", "actionsMode")
	if v, ok := fs["accountTargeting"]; ok {
		if s, ok := r.text(v, join(path, "accountTargeting")); ok && s != "single-account" {
			r.addf(v.pos, join(path, "accountTargeting"), "accountTargeting %q has no local meaning: shakedown acts on the targets this machine reaches", s)
		}
	}
	if v, ok := fs["emptyTargetResolutionMode"]; ok {
		if s, ok := r.text(v, join(path, "emptyTargetResolutionMode")); ok && s == "skip" {
			t.notes = append(t.notes, fmt.Sprintf("emptyTargetResolutionMode skip (line %d): shakedown never skips, it refuses to inject when a target resolves to nothing", v.pos.Line))
		}
	}
	if v, ok := fs["actionsMode"]; ok {
		if s, ok := r.text(v, join(path, "actionsMode")); ok && s != "run-all" {
			r.addf(v.pos, join(path, "actionsMode"), "actionsMode %q: an experiment that skips its actions has nothing to import; shakedown plan shows what would be touched", s)
		}
	}
}

func (r *reader) targets(n *node, path string) []*target {
	if n.kind != mapNode {
		if n.kind != nullNode {
			r.addf(n.pos, path, "want a mapping of targets, not %s", n.kind)
		}
		return nil
	}
	var out []*target
	for i, k := range n.keys {
		p := join(path, k.str)
		v := n.vals[i]
		t := &target{name: k.str, path: p, key: k, n: v}
		fs := r.fields(v, p, "resourceType", "resourceArns", "resourceTags", "filters", "selectionMode", "parameters")
		if x, ok := fs["resourceType"]; ok {
			t.resourceType, _ = r.text(x, join(p, "resourceType"))
		} else {
			r.addf(v.pos, p, "a target needs a resourceType")
		}
		if x, ok := fs["resourceArns"]; ok {
			switch x.kind {
			case seqNode:
				for j, a := range x.items {
					if a.kind != scalarNode {
						r.addf(a.pos, fmt.Sprintf("%s.resourceArns[%d]", p, j), "want an ARN, not %s", a.kind)
						continue
					}
					t.arns = append(t.arns, a)
				}
			case nullNode:
			default:
				r.addf(x.pos, join(p, "resourceArns"), "want a list of ARNs, not %s", x.kind)
			}
		}
		if x, ok := fs["resourceTags"]; ok && x.kind != nullNode {
			if x.kind != mapNode {
				r.addf(x.pos, join(p, "resourceTags"), "want a mapping of tags, not %s", x.kind)
			}
			for j, tk := range x.keys {
				if val, ok := r.text(x.vals[j], join(join(p, "resourceTags"), tk.str)); ok {
					t.tags = append(t.tags, tk.str+"="+val)
				}
			}
			sort.Strings(t.tags)
		}
		if x, ok := fs["filters"]; ok && x.kind != nullNode {
			if x.kind != seqNode {
				r.addf(x.pos, join(p, "filters"), "want a list of filters, not %s", x.kind)
			}
			for j, f := range x.items {
				fp := fmt.Sprintf("%s.filters[%d]", p, j)
				ffs := r.fields(f, fp, "path", "values")
				fpath, _ := r.text(ffs["path"], join(fp, "path"))
				var vals []string
				if vs := ffs["values"]; vs != nil {
					for _, it := range vs.items {
						if s, ok := r.text(it, join(fp, "values")); ok {
							vals = append(vals, s)
						}
					}
				}
				t.filters = append(t.filters, fpath+"="+strings.Join(vals, ","))
			}
		}
		if x, ok := fs["selectionMode"]; ok {
			t.selection = x
		}
		if x, ok := fs["parameters"]; ok && x.kind != nullNode {
			if x.kind != mapNode {
				r.addf(x.pos, join(p, "parameters"), "want a mapping, not %s", x.kind)
			} else {
				t.params = x
			}
		}
		if len(t.arns) == 0 && len(t.tags) == 0 && t.params == nil {
			r.addf(v.pos, p, "a target needs resourceArns, resourceTags or parameters")
		}
		out = append(out, t)
	}
	return out
}

func (r *reader) actions(n *node, path string) []*action {
	if n.kind != mapNode {
		if n.kind != nullNode {
			r.addf(n.pos, path, "want a mapping of actions, not %s", n.kind)
		}
		return nil
	}
	var out []*action
	for i, k := range n.keys {
		p := join(path, k.str)
		v := n.vals[i]
		a := &action{name: k.str, path: p, n: v}
		fs := r.fields(v, p, "actionId", "description", "parameters", "targets", "startAfter")
		if x, ok := fs["actionId"]; ok {
			a.id, _ = r.text(x, join(p, "actionId"))
			a.idNode = x
		} else {
			r.addf(v.pos, p, "an action needs an actionId")
		}
		if x, ok := fs["description"]; ok {
			a.description, _ = r.text(x, join(p, "description"))
		}
		if x, ok := fs["parameters"]; ok && x.kind != nullNode {
			if x.kind != mapNode {
				r.addf(x.pos, join(p, "parameters"), "want a mapping, not %s", x.kind)
			} else {
				a.params = x
			}
		}
		if x, ok := fs["targets"]; ok && x.kind != nullNode {
			if x.kind != mapNode {
				r.addf(x.pos, join(p, "targets"), "want a mapping, not %s", x.kind)
			}
			for j, tk := range x.keys {
				tp := join(join(p, "targets"), tk.str)
				name, ok := r.text(x.vals[j], tp)
				if !ok {
					continue
				}
				if a.target != "" {
					r.addf(tk.pos, tp, "the action acts on two targets (%s and %s); a shakedown fault acts on one: split the action", a.target, name)
					continue
				}
				a.target, a.targetNode = name, x.vals[j]
			}
		}
		if x, ok := fs["startAfter"]; ok {
			switch x.kind {
			case seqNode:
				a.startAfter = x.items
			case scalarNode:
				a.startAfter = []*node{x}
			case nullNode:
			default:
				r.addf(x.pos, join(p, "startAfter"), "want a list of action names, not %s", x.kind)
			}
		}
		out = append(out, a)
	}
	return out
}
