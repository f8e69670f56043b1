package signature

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRuleCountLimit: a rule set of more than MaxRules rules is refused
// with one problem naming the limit; MaxRules rules are taken.
func TestRuleCountLimit(t *testing.T) {
	write := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "- {id: r%d, severity: yellow, match: {type: T}}\n", i)
		}
		f := filepath.Join(t.TempDir(), "rules.yaml")
		if err := os.WriteFile(f, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	rs, _, err := Load([]string{write(MaxRules)}, Options{})
	if err != nil || len(rs.Rules) != MaxRules {
		t.Fatalf("%d rules: %v", MaxRules, err)
	}
	_, _, err = Load([]string{write(MaxRules + 5)}, Options{})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("more than %d rules", MaxRules)) || strings.Count(err.Error(), "more than") != 1 {
		t.Fatalf("%d rules: %.300v", MaxRules+5, err)
	}
}

// TestRuleFileSizeLimit: a rule file is read through the file limit.
func TestRuleFileSizeLimit(t *testing.T) {
	f := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(f, []byte("# "+strings.Repeat("x", MaxRuleFileBytes)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := Load([]string{f}, Options{})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("larger than the limit of %d bytes", MaxRuleFileBytes)) {
		t.Fatalf("%v", err)
	}
}
