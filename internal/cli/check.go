package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/node"
)

func checkCmd(e *env) *cobra.Command {
	var kind string
	cmd := &cobra.Command{
		Use:   "check FILE|DIR...",
		Short: "Validate resource objects, rule files and process models, and the hierarchy several monitors declare; exit 2 and list every mistake with its line",
		Long:  help("check"),
		Args:  cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if kind != node.KindAuto && kind != node.KindConfig && kind != node.KindRules && kind != node.KindModel && kind != node.KindClassifier {
				return fail(fmt.Errorf("--kind %q: want auto, config, rules, model or classifier", kind))
			}
			files, err := checkFiles(args)
			if err != nil {
				return fail(err)
			}
			bad := 0
			var monitors []*config.ResourceObject
			for _, f := range files {
				what, warns, ro, err := node.CheckFileObject(f, kind)
				if what != "" {
					what = " (" + what + ")"
				}
				if err == nil {
					fmt.Fprintf(e.stdout, "%s: ok%s\n", f, what)
					for _, w := range warns {
						fmt.Fprintln(e.stdout, w)
					}
					if ro != nil && ro.Monitor.Name != "" {
						monitors = append(monitors, ro)
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
			// Two or more monitors: the hierarchy they declare together.
			hierarchyBad := 0
			if len(monitors) >= 2 {
				problems, warnings := config.CheckHierarchy(monitors)
				for _, p := range problems {
					fmt.Fprintln(e.stdout, p.String())
				}
				for _, w := range warnings {
					fmt.Fprintln(e.stdout, w.String())
				}
				hierarchyBad = len(problems)
				if hierarchyBad == 0 {
					fmt.Fprintf(e.stdout, "hierarchy of %d monitors: ok\n", len(monitors))
				}
			}
			switch {
			case bad > 0 && hierarchyBad > 0:
				return fail(fmt.Errorf("%d of %d files have problems, and the hierarchy has %d", bad, len(files), hierarchyBad))
			case bad > 0:
				return fail(fmt.Errorf("%d of %d files have problems", bad, len(files)))
			case hierarchyBad > 0:
				return fail(fmt.Errorf("the hierarchy of %d monitors has %d problems", len(monitors), hierarchyBad))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&kind, "kind", "auto", "what the files are: auto, config (resource objects), rules (signature rules), model (process models) or classifier (process classifier model files)")
	return cmd
}

// checkFiles lists the files to check: each file given, and the .yml and
// .yaml files of each directory given (not below it), in name order.
func checkFiles(args []string) ([]string, error) {
	var files []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil || !st.IsDir() {
			files = append(files, a) // a missing file is reported where it is checked
			continue
		}
		ents, err := os.ReadDir(a)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a, err)
		}
		var in []string
		for _, de := range ents {
			if n := de.Name(); !de.IsDir() && (strings.HasSuffix(n, ".yml") || strings.HasSuffix(n, ".yaml")) {
				in = append(in, filepath.Join(a, n))
			}
		}
		if len(in) == 0 {
			return nil, fmt.Errorf("%s: a directory without .yml or .yaml files", a)
		}
		sort.Strings(in)
		files = append(files, in...)
	}
	return files, nil
}
