package spec

import (
	"github.com/goccy/go-yaml/ast"

	"github.com/shakedown-dev/shakedown"
)

// Parse parses data, a YAML or JSON document of the file path, within the limits of an
// experiment file (MaxFileSize, MaxNodes, MaxDepth, and the expansion of its aliases) and
// returns its body for a reader of another format to walk: the importers of other tools'
// experiments. The error, when there is one, is a *shakedown.Error of kind KindInvalid
// wrapping Problems with positions, as Load's.
func Parse(path string, data []byte) (ast.Node, error) {
	d := &decoder{file: path}
	src := data
	if isJSON(path, data) {
		src = detab(data)
	}
	body := d.parse(src)
	if len(d.probs) > 0 {
		d.probs.sort()
		return nil, &shakedown.Error{Kind: shakedown.KindInvalid, Err: d.probs}
	}
	return body, nil
}
