package resolver

import (
	"context"
	"errors"
	"fmt"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/resolver/action"
)

// BuildMethods builds the response methods a resource object's responses:
// section configures, by instance name. On an error the methods already
// built are closed.
func BuildMethods(ctx context.Context, reg *action.Registry, specs []config.PluginSpec, deps action.Deps) (map[string]Method, error) {
	out := map[string]Method{}
	for _, spec := range specs {
		if _, ok := reg.Factory(spec.Kind); !ok {
			return nil, errors.Join(fmt.Errorf("response %s: unknown kind %q (known: %v)", spec.Name, spec.Kind, reg.Kinds()), closeMethods(out))
		}
		m, err := reg.Build(ctx, spec, deps)
		if err != nil {
			return nil, errors.Join(err, closeMethods(out))
		}
		undoable := reg.Undoable(spec.Kind, spec.Settings)
		if _, ok := m.(action.Undoer); undoable && !ok {
			return nil, errors.Join(fmt.Errorf("response %s: kind %s says it undoes but its method does not", spec.Name, spec.Kind), closeMethods(out))
		}
		out[spec.Name] = Method{Name: spec.Name, Kind: spec.Kind, Needs: reg.Needs(spec.Kind, spec.Settings), Undoable: undoable, Method: m}
	}
	return out, nil
}

// CloseMethods closes the methods that hold resources.
func CloseMethods(ms map[string]Method) error { return closeMethods(ms) }

func closeMethods(ms map[string]Method) error {
	var errs []error
	for name, m := range ms {
		if c, ok := m.Method.(action.Closer); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("response %s: close: %w", name, err))
			}
		}
	}
	return errors.Join(errs...)
}
