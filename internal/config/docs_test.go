package config

import (
	"os"
	"regexp"
	"testing"
)

// TestNetsensorDocExample loads the resource object of docs/NETSENSOR.md, so
// the example a reader copies stays valid.
func TestNetsensorDocExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/NETSENSOR.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(doc, -1)
	if len(blocks) != 1 {
		t.Fatalf("%d yaml examples in docs/NETSENSOR.md, want 1", len(blocks))
	}
	ro, err := Load(append([]byte("monitor: {name: gw}\n"), blocks[0][1]...), "NETSENSOR.md", Registries{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ro.NetSensor.Streams) != 7 || len(ro.NetSensor.Internal) != 1 {
		t.Errorf("netsensor section %+v", ro.NetSensor)
	}
}
