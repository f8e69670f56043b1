package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine/signature"
	"github.com/vigil-ids/vigil/internal/engine/track"
)

func checkCmd(e *env) *cobra.Command {
	var kind string
	cmd := &cobra.Command{
		Use:   "check FILE...",
		Short: "Validate resource objects, rule files and process models; exit 2 and list every mistake with its line",
		Long:  help("check"),
		Args:  cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, files []string) error {
			if kind != "auto" && kind != "config" && kind != "rules" && kind != "model" {
				return fail(fmt.Errorf("--kind %q: want auto, config, rules or model", kind))
			}
			regs, _ := e.registries()
			bad := 0
			for _, f := range files {
				k := kind
				if k == "auto" {
					k = "config"
					if data, err := os.ReadFile(f); err == nil {
						k = config.FileKind(data)
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
				return fail(fmt.Errorf("%d of %d files have problems", bad, len(files)))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&kind, "kind", "auto", "what the files are: auto, config (resource objects), rules (signature rules) or model (process models)")
	return cmd
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
