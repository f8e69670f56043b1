package kinds

import (
	"slices"
	"testing"

	"github.com/vigil-ids/vigil/internal/learn"
)

func TestEveryKindIsRegistered(t *testing.T) {
	for _, k := range []string{"bilstm", "forest", "inception", "logreg", "lstm", "svm"} {
		if !slices.Contains(learn.Kinds(), k) {
			t.Errorf("kind %q not registered (have %q)", k, learn.Kinds())
		}
	}
}
