// Package configs holds the resource objects shipped inside the binary.
package configs

import (
	"embed"
)

//go:embed *.yaml
var shipped embed.FS

// Default returns the resource object `vigil up` runs with when given none.
func Default() []byte {
	b, _ := Shipped("default.yaml")
	return b
}

// Shipped returns the resource object of this directory named name
// (default.yaml, gateway.yaml, ...), as the binary carries it.
func Shipped(name string) ([]byte, bool) {
	b, err := shipped.ReadFile(name)
	return b, err == nil
}
