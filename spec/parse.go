package spec

import (
	"github.com/goccy/go-yaml/ast"
)

// Parse parses data, a YAML or JSON document of the file path, as ParseDoc does (within the
// limits of an experiment file) and returns its syntax tree, tags included, for a reader that
// needs what Doc looks through: the importers of other tools' experiments, whose files carry
// CloudFormation's !Ref and !GetAtt. what names what the file holds, for messages ("FIS
// experiment template"). The error, when there is one, is a *shakedown.Error of kind
// KindInvalid wrapping Problems with positions.
func Parse(path string, data []byte, what string) (ast.Node, error) {
	doc := ParseDoc(path, what, data)
	if err := doc.Err(); err != nil {
		return nil, err
	}
	return doc.root, nil
}
