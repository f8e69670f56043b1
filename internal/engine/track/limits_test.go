package track

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ids/vigil/models"
)

// TestModelCountLimit: a file of more than MaxModels models is refused
// with one problem naming the limit.
func TestModelCountLimit(t *testing.T) {
	one, ok := models.Builtin("m1.yaml")
	if !ok {
		t.Fatal("no m1.yaml built in")
	}
	first := strings.SplitN(string(one), "\n---", 2)[0]
	var b strings.Builder
	for i := range MaxModels + 3 {
		b.WriteString("---\n")
		b.WriteString(strings.Replace(first, "id: ", fmt.Sprintf("id: n%d-", i), 1))
		b.WriteString("\n")
	}
	f := filepath.Join(t.TempDir(), "many.yaml")
	if err := os.WriteFile(f, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadModels([]string{f})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("more than %d models", MaxModels)) || strings.Count(err.Error(), "more than") != 1 {
		t.Fatalf("%.400v", err)
	}
}
