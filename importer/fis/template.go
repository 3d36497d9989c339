package fis

import (
	"fmt"
	"sort"
	"strings"
	"unicode"

	"github.com/shakedown-dev/shakedown"
)

// template is one FIS experiment template, read from either of its forms.
type template struct {
	resource    string // the CloudFormation logical id; "" for the API's form
	path        string // the field path of the template in its file
	description string
	tagName     string // the template's Name tag, if any
	targets     []*target
	actions     []*action
	stops       []*node // stopConditions, each {source, value}
	notes       []string
}

// target is one FIS target: a cloud identity the mapping file says the meaning of.
type target struct {
	name, path   string
	key          *node // the target's name in the template, for positions
	n            *node
	resourceType string
	arns         []*node  // resourceArns: ARNs or references
	tags         []string // resourceTags, as sorted "key=value"
	filters      []string // "path=v1,v2"
	selection    *node
	params       *node // a mapping, or nil
}

// action is one FIS action.
type action struct {
	name, path  string
	n           *node
	id          string
	idNode      *node
	description string
	params      *node  // a mapping, or nil
	target      string // the FIS target it acts on; "" for none
	targetNode  *node
	startAfter  []*node
}

// canon is the name a key is known by: CloudFormation capitalises the API's camelCase keys.
func canon(k string) string {
	if k == "" {
		return k
	}
	r := []rune(k)
	r[0] = unicode.ToLower(r[0])
	return string(r)
}

// fields checks that n is a mapping whose keys are among known (as canon writes them) and
// returns its values by known name. Every other key is a problem at its position.
func (r *reader) fields(n *node, path string, known ...string) map[string]*node {
	out := map[string]*node{}
	if n == nil || n.kind == nullNode {
		return out
	}
	if n.kind != mapNode {
		r.addf(n.pos, path, "want a mapping, not %s", n.kind)
		return out
	}
	for i, k := range n.keys {
		c := canon(k.str)
		if !contains(known, c) {
			r.addf(k.pos, join(path, k.str), "unknown field %q (known: %s)", k.str, strings.Join(known, ", "))
			continue
		}
		out[c] = n.vals[i]
		if c != k.str {
			if r.written == nil {
				r.written = map[string]string{}
			}
			r.written[join(path, c)] = k.str
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// text returns the text of a scalar, and whether n is one (a problem when it is not).
func (r *reader) text(n *node, path string) (string, bool) {
	if n == nil {
		return "", false
	}
	switch {
	case n.kind == nullNode:
		return "", false
	case n.kind != scalarNode:
		r.addf(n.pos, path, "want a value, not %s", n.kind)
		return "", false
	case n.ref != "":
		r.addf(n.pos, path, "want a value here, not the CloudFormation reference %s", n.ref)
		return "", false
	}
	return n.str, true
}

// documents finds the experiment templates of a file: the API's JSON (bare, or in the
// experimentTemplate wrapper that get-experiment-template prints), a CloudFormation template
// with AWS::FIS::ExperimentTemplate resources, one such resource, or its Properties.
func (r *reader) documents(root *node) []*template {
	if root.kind != mapNode {
		r.addf(root.pos, "", "want an FIS experiment template (a mapping), not %s", root.kind)
		return nil
	}
	if w := root.get("experimentTemplate"); w != nil {
		r.fields(root, "", "experimentTemplate")
		return []*template{r.template(w, "experimentTemplate", "")}
	}
	if res := root.get("Resources"); res != nil {
		return r.stack(root, res)
	}
	if t := root.get("Type"); t != nil {
		fs := r.fields(root, "", "type", "properties", "dependsOn", "condition", "metadata", "deletionPolicy", "updateReplacePolicy")
		if t.str != fisType {
			r.addf(t.pos, "Type", "resource type %q is not %s", t.str, fisType)
			return nil
		}
		return []*template{r.template(fs["properties"], "Properties", "")}
	}
	return []*template{r.template(root, "", "")}
}

const fisType = "AWS::FIS::ExperimentTemplate"

// stack reads the FIS resources of a CloudFormation template; its other resources and
// sections are named in a note.
func (r *reader) stack(root, res *node) []*template {
	fs := r.fields(root, "", "aWSTemplateFormatVersion", "description", "metadata", "parameters", "rules",
		"mappings", "conditions", "transform", "resources", "outputs")
	var sections []string
	for _, k := range root.keys {
		if c := canon(k.str); c != "resources" && fs[c] != nil {
			sections = append(sections, fmt.Sprintf("%s (line %d)", k.str, k.pos.Line))
		}
	}
	if res.kind != mapNode {
		r.addf(res.pos, "Resources", "want a mapping of resources, not %s", res.kind)
		return nil
	}
	var out []*template
	var others []string
	for i, k := range res.keys {
		path := "Resources." + k.str
		v := res.vals[i]
		t := v.get("Type")
		if t == nil || t.str != fisType {
			typ := "no Type"
			if t != nil {
				typ = t.str
			}
			others = append(others, fmt.Sprintf("%s (%s)", k.str, typ))
			continue
		}
		rfs := r.fields(v, path, "type", "properties", "dependsOn", "condition", "metadata", "deletionPolicy", "updateReplacePolicy")
		out = append(out, r.template(rfs["properties"], path+".Properties", k.str))
	}
	if len(out) == 0 {
		r.addf(res.pos, "Resources", "no %s resource in this CloudFormation template", fisType)
		return nil
	}
	for _, t := range out {
		if len(others) > 0 {
			t.notes = append(t.notes, "other resources of the CloudFormation template, not experiments: "+strings.Join(others, ", "))
		}
		if len(sections) > 0 {
			t.notes = append(t.notes, "sections of the CloudFormation template not read: "+strings.Join(sections, ", ")+"")
		}
	}
	return out
}

// Fields of a template that have no meaning here; each is named in a note of the output.
var leftOut = map[string]string{
	"roleArn":                          "shakedown acts as the user that runs it",
	"tags":                             "",
	"logConfiguration":                 "the run record (--json) and reports hold what happened",
	"experimentReportConfiguration":    "the run's reports (--junit, --markdown, --html) stand for it",
	"id":                               "",
	"arn":                              "",
	"creationTime":                     "",
	"lastUpdateTime":                   "",
	"targetAccountConfigurationsCount": "shakedown acts on this machine's targets",
	"clientToken":                      "",
}

func (r *reader) template(n *node, path, resource string) *template {
	t := &template{resource: resource, path: path}
	known := []string{"description", "targets", "actions", "stopConditions", "experimentOptions"}
	for k := range leftOut {
		known = append(known, k)
	}
	sort.Strings(known[5:])
	fs := r.fields(n, path, known...)
	if n == nil || n.kind == nullNode {
		pos := shakedown.Pos{}
		if n != nil {
			pos = n.pos
		}
		r.addf(pos, path, "the experiment template is empty")
		return t
	}
	if v, ok := fs["description"]; ok {
		t.description, _ = r.text(v, join(path, "description"))
	}
	for _, k := range known[5:] {
		v, ok := fs[k]
		if !ok {
			continue
		}
		if k == "tags" {
			if name := v.get("Name"); name != nil && name.kind == scalarNode {
				t.tagName = name.str
			}
		}
		note := fmt.Sprintf("%s (line %d) has no local meaning", k, v.pos.Line)
		if why := leftOut[k]; why != "" {
			note += ": " + why
		}
		t.notes = append(t.notes, note)
	}
	if v, ok := fs["experimentOptions"]; ok {
		r.options(v, join(path, "experimentOptions"), t)
	}
	if v, ok := fs["targets"]; ok {
		t.targets = r.targets(v, join(path, "targets"))
	}
	if v, ok := fs["actions"]; ok {
		t.actions = r.actions(v, join(path, "actions"))
	}
	if _, ok := fs["actions"]; !ok || len(t.actions) == 0 {
		r.addf(n.pos, path, "the template has no actions")
	}
	if v, ok := fs["stopConditions"]; ok {
		p := join(path, "stopConditions")
		switch v.kind {
		case seqNode:
			for i, it := range v.items {
				ip := fmt.Sprintf("%s[%d]", p, i)
				sfs := r.fields(it, ip, "source", "value")
				if sfs["source"] == nil {
					r.addf(it.pos, ip, "a stop condition needs a source")
				}
				t.stops = append(t.stops, it)
			}
		case nullNode:
		default:
			r.addf(v.pos, p, "want a list, not %s", v.kind)
		}
	}
	return t
}
