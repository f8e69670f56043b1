package config

import (
	"strings"
	"testing"
)

// TestSubscriptionRate: a subscription takes DefaultSubscriptionMaxRate
// reports a second with bursts of DefaultSubscriptionBurst unless it says
// otherwise; a rate or burst out of bounds is refused at its file and line.
func TestSubscriptionRate(t *testing.T) {
	ro, err := Load([]byte("monitor: {name: dom, layer: domain}\nsubscriptions:\n  - monitor: a\n  - {monitor: b, max_rate: 5.5, burst: 20}\n"), "dom.yml", Registries{})
	if err != nil {
		t.Fatal(err)
	}
	if s := ro.Subscriptions[0]; s.MaxRate != DefaultSubscriptionMaxRate || s.Burst != DefaultSubscriptionBurst {
		t.Errorf("defaults: %+v", s)
	}
	if s := ro.Subscriptions[1]; s.MaxRate != 5.5 || s.Burst != 20 {
		t.Errorf("set: %+v", s)
	}
	for yaml, want := range map[string]string{
		"  - {monitor: a, max_rate: -1}\n":    `dom.yml:3:18: subscriptions[0].max_rate: -1 reports a second is not in (0, 1e+06]`,
		"  - {monitor: a, max_rate: 2e6}\n":   `dom.yml:3:18: subscriptions[0].max_rate: 2e+06 reports a second is not in (0, 1e+06]`,
		"  - {monitor: a, burst: -3}\n":       `dom.yml:3:18: subscriptions[0].burst: -3 reports is not in [1, 16777216]`,
		"  - {monitor: a, max_rate: lots}\n":  `dom.yml:3:28: subscriptions[0].max_rate: want a number, not "lots"`,
		"  - {monitor: a, max_rates: 1000}\n": `dom.yml:3:18: subscriptions[0].max_rates: unknown key`,
	} {
		_, err := Load([]byte("monitor: {name: dom, layer: domain}\nsubscriptions:\n"+yaml), "dom.yml", Registries{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to say %q", yaml, err, want)
		}
	}
}
