package yamlnode

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzDecode reads arbitrary files into a tagged struct: problems with a
// file and a message, never a panic.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"name: web\nevery: 1m\ninner: {port: 80}\nitems: [{port: 1}]\nby_name: {x: {port: 3}}\nlevel: 4\n",
		"name: [x]\nevery: soon\nitems: {port: 1}\nlevel: 12\nname: again\n",
		"base: &b {port: 1}\ninner: {<<: *b, tags: [a, b]}\nfree: *b\n",
		"a: [1\n",
		"---\n- 1\n---\nname: x\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := Reader{File: "f.yaml", Pos: map[string]Pos{}}
		r.Documents(data, func(_ int, n *yaml.Node) {
			var s settings
			r.Decode(n, &s, "")
		})
		for _, p := range r.Problems {
			if p.File != "f.yaml" || p.Msg == "" {
				t.Fatalf("problem without a file or message: %+v", p)
			}
		}
	})
}
