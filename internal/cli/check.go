package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/node"
)

func checkCmd(e *env) *cobra.Command {
	var kind string
	cmd := &cobra.Command{
		Use:   "check FILE...",
		Short: "Validate resource objects, rule files and process models; exit 2 and list every mistake with its line",
		Long:  help("check"),
		Args:  cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, files []string) error {
			if kind != node.KindAuto && kind != node.KindConfig && kind != node.KindRules && kind != node.KindModel {
				return fail(fmt.Errorf("--kind %q: want auto, config, rules or model", kind))
			}
			bad := 0
			for _, f := range files {
				what, warns, err := node.CheckFile(f, kind)
				if what != "" {
					what = " (" + what + ")"
				}
				if err == nil {
					fmt.Fprintf(e.stdout, "%s: ok%s\n", f, what)
					for _, w := range warns {
						fmt.Fprintln(e.stdout, w)
					}
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
