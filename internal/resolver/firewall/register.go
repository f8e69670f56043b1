package firewall

import (
	"context"
	"fmt"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/resolver/action"
)

// Register adds the kinds nftables and tcp-kill to r.
func Register(r *action.Registry) error {
	if err := r.Register(action.Factory{
		Kind:        KindNftables,
		Needs:       []string{"addr"},
		Undoable:    true,
		NewSettings: newNftablesSettings,
		New: func(_ context.Context, cs config.Settings, d action.Deps) (action.Method, error) {
			s, ok := cs.(*NftablesSettings)
			if !ok {
				return nil, fmt.Errorf("nftables: settings of type %T", cs)
			}
			return NewNftables(*s, d)
		},
	}); err != nil {
		return err
	}
	return r.Register(action.Factory{
		Kind:        KindTCPKill,
		Needs:       []string{"conn"},
		NewSettings: newTCPKillSettings,
		New: func(_ context.Context, cs config.Settings, d action.Deps) (action.Method, error) {
			s, ok := cs.(*TCPKillSettings)
			if !ok {
				return nil, fmt.Errorf("tcp-kill: settings of type %T", cs)
			}
			return NewTCPKill(*s, d)
		},
	})
}
