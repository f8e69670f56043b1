package config

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// EachDocument decodes the YAML documents of a file's bytes in turn and
// calls fn with each non-empty document's root node (aliases kept) and
// its index. A syntax error ends the file (the decoder cannot go on) and
// is returned as a problem with its line; ok is false then.
func EachDocument(file string, data []byte, fn func(i int, root *yaml.Node)) (Problem, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for i := 0; ; i++ {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return Problem{}, true
		}
		if err != nil {
			msg := err.Error()
			pr := Problem{File: file, Line: 1, Col: 1, Msg: strings.TrimPrefix(msg, "yaml: ")}
			if m := yamlLine.FindStringSubmatch(msg); m != nil {
				pr.Line, _ = strconv.Atoi(m[1])
				pr.Msg = m[2]
			}
			return pr, false
		}
		root := &doc
		if root.Kind == yaml.DocumentNode {
			if len(root.Content) == 0 {
				continue
			}
			root = root.Content[0]
		}
		fn(i, root)
	}
}
