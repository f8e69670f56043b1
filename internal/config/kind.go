package config

import (
	"bytes"

	"go.yaml.in/yaml/v3"
)

// FileKind tells a process model ("model"), a rule file ("rules") and a
// resource object ("config") apart by the first document's top level: a
// model has states:; a rule file is a sequence (a list of rules), or a
// mapping with an id (one rule) or with rules: or lists: (no resource
// object has those). Anything else, or what does not parse, is "config".
func FileKind(data []byte) string {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil || len(doc.Content) == 0 {
		return "config"
	}
	root := doc.Content[0]
	switch root.Kind {
	case yaml.SequenceNode:
		return "rules"
	case yaml.MappingNode:
		kind := "config"
		for i := 0; i+1 < len(root.Content); i += 2 {
			switch root.Content[i].Value {
			case "states":
				return "model"
			case "id", "rules", "lists":
				kind = "rules"
			}
		}
		return kind
	}
	return "config"
}
