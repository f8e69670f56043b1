package resolver

import (
	"os"
	"regexp"
	"testing"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/resolver/action"
)

// TestResponsesDocExample loads the resource object of docs/RESPONSES.md
// with the log kind, so the example a reader copies stays valid.
func TestResponsesDocExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/RESPONSES.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(doc, -1)
	if len(blocks) < 1 {
		t.Fatal("no yaml example in docs/RESPONSES.md")
	}
	reg := action.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	ro, err := config.Load(append([]byte("monitor: {name: m}\n"), blocks[0][1]...), "RESPONSES.md", config.Registries{Responses: reg})
	if err != nil {
		t.Fatal(err)
	}
	if ro.Resolver.Mode != config.ModeMonitor || len(ro.Resolver.Policies) != 1 || ro.Resolver.Budgets["log"].Count != 600 {
		t.Errorf("resolver section %+v", ro.Resolver)
	}
}
