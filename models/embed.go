// Package models holds the models shipped inside the binary, which
// resource objects name as builtin:<file>: the track engine's process
// models (docs/MODELS.md) and the process classifier's model of common
// server daemons, classifier.vgm (docs/CLASSIFIER.md).
package models

import "embed"

//go:embed m1.yaml m2.yaml m3.yaml m3r.yaml m4.yaml classifier.vgm
var files embed.FS

// Prefix marks a model file shipped in the binary.
const Prefix = "builtin:"

// Builtin returns the model file named name (as in builtin:name).
func Builtin(name string) ([]byte, bool) {
	data, err := files.ReadFile(name)
	return data, err == nil
}
