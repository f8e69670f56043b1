package firewall

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/resolver/action"
)

// The example of docs/RESPONSES.md's section on these kinds loads, with
// the defaults it states.
func TestDocsExample(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/RESPONSES.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n## Blocking and ending connections\n")
	if !ok {
		t.Fatal("docs/RESPONSES.md has no section on blocking and ending connections")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(section, -1)
	if len(blocks) != 1 {
		t.Fatalf("%d yaml examples in the section, want 1", len(blocks))
	}
	r := action.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	ro, err := config.Load([]byte("monitor: {name: gw}\n"+blocks[0][1]), "RESPONSES.md", config.Registries{Responses: r})
	if err != nil {
		t.Fatal(err)
	}
	if len(ro.Responses) != 2 {
		t.Fatalf("responses %+v", ro.Responses)
	}
	if got, want := *ro.Responses[0].Settings.(*NftablesSettings), *newNftablesSettings().(*NftablesSettings); got != want {
		t.Errorf("the example's nftables settings %+v differ from the defaults %+v", got, want)
	}
}
