// Package configs holds the resource objects shipped inside the binary.
package configs

import _ "embed"

//go:embed default.yaml
var defaultYAML []byte

// Default returns the resource object `vigil up` runs with when given none.
func Default() []byte { return append([]byte(nil), defaultYAML...) }
