package node

import (
	"fmt"
	"io"
	"os"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/engine/classify"
	"github.com/vigil-ids/vigil/internal/engine/population"
	"github.com/vigil-ids/vigil/internal/engine/profile"
	"github.com/vigil-ids/vigil/internal/engine/signature"
	"github.com/vigil-ids/vigil/internal/engine/track"
	"github.com/vigil-ids/vigil/internal/learn"
	"github.com/vigil-ids/vigil/internal/resolver"
	"github.com/vigil-ids/vigil/internal/resolver/action"
	"github.com/vigil-ids/vigil/internal/resolver/effect"
	"github.com/vigil-ids/vigil/internal/resolver/firewall"
	"github.com/vigil-ids/vigil/internal/resolver/notify"
	"github.com/vigil-ids/vigil/internal/resolver/probe"
	"github.com/vigil-ids/vigil/internal/resolver/revprobe"
	"github.com/vigil-ids/vigil/internal/resolver/sensitise"
)

// ResponseKinds are the registrars of the response method kinds this
// binary offers: each package of methods exports a
// Register(*action.Registry) error that adds its kinds, and is listed
// here.
var ResponseKinds = []func(*action.Registry) error{resolver.Register, notify.Register, firewall.Register, effect.Register, probe.Register, revprobe.Register, sensitise.Register}

// Registries lists the plug-in kinds a node offers: the engines, and the
// response methods (config.Registries.Responses is an *action.Registry).
func Registries() (config.Registries, *engine.Registry) {
	engines := engine.NewRegistry()
	for _, f := range []engine.Factory{signature.Factory(), track.Factory(), profile.Factory(), population.Factory(), classify.Factory()} {
		if err := engines.Register(f); err != nil {
			panic(err) // a kind registered twice is a programming error
		}
	}
	return config.Registries{Engines: engines, Responses: ResponseRegistry()}, engines
}

// ResponseRegistry returns a registry with every kind of ResponseKinds.
func ResponseRegistry() *action.Registry {
	r := action.NewRegistry()
	for _, register := range ResponseKinds {
		if err := register(r); err != nil {
			panic(err) // a kind registered twice is a programming error
		}
	}
	return r
}

// File kinds CheckFile knows.
const (
	KindAuto   = "auto"
	KindConfig = "config"
	KindRules  = "rules"
	KindModel  = "model"
	// KindClassifier is a process classifier's model file (vigil train
	// classifier).
	KindClassifier = "classifier"
)

// CheckFile loads the file path as kind (KindAuto: as config.FileKind
// recognises it) and says what it holds ("2 rules"), or every problem in
// it: a *config.Error lists them with their positions. Warnings are what
// is valid but likely a mistake (a rule file's fact about a whole host
// that does not say so), one a line with its position.
func CheckFile(path, kind string) (string, []string, error) {
	what, warns, _, err := CheckFileObject(path, kind)
	return what, warns, err
}

// CheckFileObject is CheckFile that also returns the resource object a
// valid monitor's file holds (nil for other kinds), for the checks
// across several (config.CheckHierarchy).
func CheckFileObject(path, kind string) (string, []string, *config.ResourceObject, error) {
	switch kind {
	case KindAuto:
		kind = KindConfig
		if isClassifierFile(path) {
			kind = KindClassifier
		} else if data, err := config.ReadFile(path); err == nil {
			kind = config.FileKind(data)
		}
	case KindConfig, KindRules, KindModel, KindClassifier:
	default:
		return "", nil, nil, fmt.Errorf("unknown kind %q: want auto, config, rules, model or classifier", kind)
	}
	switch kind {
	case KindClassifier:
		f, err := learn.LoadFile(path)
		if err != nil {
			return "", nil, nil, err
		}
		return fmt.Sprintf("a process classifier (%s) of %d classes over %s", f.Kind, len(f.Classes), plural(len(f.Features)+1, "feature")), nil, nil, nil
	case KindModel:
		ms, err := track.LoadModels([]string{path})
		return plural(len(ms), "model"), nil, nil, err
	case KindRules:
		rs, _, err := signature.Load([]string{path}, signature.Options{})
		if err != nil {
			return "", nil, nil, err
		}
		var warns []string
		for _, w := range rs.Warnings {
			w.Msg = "warning: " + w.Msg
			warns = append(warns, w.String())
		}
		return plural(len(rs.Rules), "rule"), warns, nil, nil
	}
	regs, _ := Registries()
	ro, err := config.LoadFile(path, regs)
	return "", nil, ro, err
}

// isClassifierFile reports whether path starts as a process classifier's
// model file does.
func isClassifierFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, len(learn.FileMagic)+1)
	if _, err := io.ReadFull(f, head); err != nil {
		return false
	}
	return string(head) == learn.FileMagic+" "
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
