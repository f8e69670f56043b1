package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/config"
)

func checkCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "check FILE...",
		Short: "Validate resource objects; exit 2 and list every mistake with its line",
		Long: `Validate resource objects (and, as their issues land, process models and rule
packs). Every mistake is reported as FILE:LINE:COLUMN: PATH: MESSAGE. The exit
status is 0 when every file is valid and 2 otherwise.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, files []string) error {
			regs, _ := e.registries()
			bad := 0
			for _, f := range files {
				_, err := config.LoadFile(f, regs)
				if err == nil {
					fmt.Fprintf(e.stdout, "%s: ok\n", f)
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
}
