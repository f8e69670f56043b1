package resolver

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/resolver/action"
)

// LogKind is the response kind that writes a decision to the monitor's
// log: the simplest notification, always available.
const LogKind = "log"

// LogSettings are a log method's settings.
type LogSettings struct {
	// Level is the log level of the lines: info, warn or error.
	Level string `yaml:"level"`
}

// Validate implements config.Settings.
func (s *LogSettings) Validate(p *config.Problems, path string) {
	switch s.Level {
	case "info", "warn", "error":
	default:
		p.Addf(config.Join(path, "level"), "unknown level %q (want info, warn or error)", s.Level)
	}
}

// Register adds the kinds this package offers (log) to r.
func Register(r *action.Registry) error {
	return r.Register(action.Factory{
		Kind:        LogKind,
		NewSettings: func() config.Settings { return &LogSettings{Level: "warn"} },
		New: func(_ context.Context, s config.Settings, d action.Deps) (action.Method, error) {
			ls, ok := s.(*LogSettings)
			if !ok {
				return nil, fmt.Errorf("settings of type %T", s)
			}
			lg := d.Logger
			if lg == nil {
				lg = slog.Default()
			}
			lvl := map[string]slog.Level{"info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}[ls.Level]
			return &logMethod{log: lg.With("response", d.Name), level: lvl}, nil
		},
	})
}

type logMethod struct {
	log   *slog.Logger
	level slog.Level
}

func (m *logMethod) Plan(req action.Request) (string, error) {
	return "log the decision about " + describe(req.Subject), nil
}

func (m *logMethod) Execute(ctx context.Context, req action.Request) (action.Outcome, error) {
	ids := make([]string, 0, len(req.Reports))
	for _, r := range req.Reports {
		ids = append(ids, r.ID)
	}
	// Every value goes through the handler's quoting: report text is
	// attacker-controlled.
	m.log.Log(ctx, m.level, "response", "decision", req.ID, "policy", req.Policy, "subject", describe(req.Subject),
		"reports", ids, "reason", req.Reason)
	return action.Outcome{Detail: "logged the decision about " + describe(req.Subject)}, nil
}
