// Package rules holds the signature rule packs shipped inside the binary,
// which resource objects name as builtin:<file> (docs/RULES.md). The
// files beside this one are the packs themselves, and scenarios/ holds a
// test scenario per rule.
package rules

import "embed"

//go:embed gateway.yaml host.yaml domain.yaml enterprise.yaml
var packs embed.FS

// Prefix marks a rule file shipped in the binary.
const Prefix = "builtin:"

// Builtin returns the pack named name (as in builtin:name).
func Builtin(name string) ([]byte, bool) {
	data, err := packs.ReadFile(name)
	return data, err == nil
}
