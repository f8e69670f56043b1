package cli

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine/signature"
	"github.com/vigil-ids/vigil/internal/engine/track"
)

func checkCmd(e *env) *cobra.Command {
	var kind string
	cmd := &cobra.Command{
		Use:   "check FILE...",
		Short: "Validate resource objects, rule files and process models; exit 2 and list every mistake with its line",
		Long: `Validate resource objects, signature rule files (docs/RULES.md) and process
models (docs/MODELS.md). Each file's kind is recognised from its top level: a
model has states:; a rule file is a list of rules, a single rule (it has an
id), or a mapping with rules: and lists:; anything else is a resource
object. --kind forces one. A resource object's engines are checked too, and
so are the rule files and models they name.

Every mistake is reported as FILE:LINE:COLUMN: PATH: MESSAGE. The exit
status is 0 when every file is valid and 2 otherwise.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, files []string) error {
			if kind != "auto" && kind != "config" && kind != "rules" && kind != "model" {
				return &exitError{code: ExitFailure, err: fmt.Errorf("--kind %q: want auto, config, rules or model", kind)}
			}
			regs, _ := e.registries()
			bad := 0
			for _, f := range files {
				k := kind
				if k == "auto" {
					k = "config"
					if data, err := config.ReadFile(f); err == nil {
						k = fileKind(data)
					}
				}
				var err error
				what := ""
				switch k {
				case "model":
					var ms []*track.Model
					ms, err = track.LoadModels([]string{f})
					if err == nil {
						what = " (" + plural(len(ms), "model") + ")"
					}
				case "rules":
					var rs *signature.RuleSet
					rs, _, err = signature.Load([]string{f}, signature.Options{})
					if err == nil {
						what = " (" + plural(len(rs.Rules), "rule") + ")"
					}
				default:
					_, err = config.LoadFile(f, regs)
				}
				if err == nil {
					fmt.Fprintf(e.stdout, "%s: ok%s\n", f, what)
					continue
				}
				bad++
				var ce *config.Error
				if errors.As(err, &ce) {
					for _, p := range ce.Problems {
						fmt.Fprintln(e.stdout, p.String())
					}
					continue
				}
				fmt.Fprintf(e.stdout, "%s: %v\n", f, err)
			}
			if bad > 0 {
				return &exitError{code: ExitFailure, err: fmt.Errorf("%d of %d files have problems", bad, len(files))}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&kind, "kind", "auto", "what the files are: auto, config (resource objects), rules (signature rules) or model (process models)")
	return cmd
}

// fileKind tells a process model, a rule file and a resource object apart
// by the first document's top level: a model has states:; a rule file is
// a sequence (a list of rules), or a mapping with an id (one rule) or with
// rules: or lists: (no resource object has those).
func fileKind(data []byte) string {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil || len(doc.Content) == 0 {
		return "config"
	}
	root := doc.Content[0]
	switch root.Kind {
	case yaml.SequenceNode:
		return "rules"
	case yaml.MappingNode:
		kind := "config"
		for i := 0; i+1 < len(root.Content); i += 2 {
			switch root.Content[i].Value {
			case "states":
				return "model"
			case "id", "rules", "lists":
				kind = "rules"
			}
		}
		return kind
	}
	return "config"
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
