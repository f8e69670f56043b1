package config

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseThreshold reads a threshold written TYPE=ABS[:REL] (PROC.CPU=30,
// PROC.MEM=16:0.2), the form of the agent's --threshold flag.
func ParseThreshold(s string) (string, Threshold, error) {
	var th Threshold
	typ, val, ok := strings.Cut(s, "=")
	if !ok {
		return "", th, fmt.Errorf("%q: want TYPE=ABS[:REL]", s)
	}
	absS, relS, _ := strings.Cut(val, ":")
	var err error
	if th.Abs, err = strconv.ParseFloat(absS, 64); err != nil {
		return "", th, fmt.Errorf("%q: bad absolute threshold %q", s, absS)
	}
	if relS != "" {
		if th.Rel, err = strconv.ParseFloat(relS, 64); err != nil {
			return "", th, fmt.Errorf("%q: bad relative threshold %q", s, relS)
		}
	}
	return typ, th, nil
}

// AddThresholds reads thresholds written TYPE=ABS[:REL] into a copy of m
// (later ones win).
func AddThresholds(m map[string]Threshold, list []string) (map[string]Threshold, error) {
	if len(list) == 0 {
		return m, nil
	}
	out := make(map[string]Threshold, len(m)+len(list))
	for k, v := range m {
		out[k] = v
	}
	for _, s := range list {
		typ, th, err := ParseThreshold(s)
		if err != nil {
			return m, err
		}
		out[typ] = th
	}
	return out, nil
}
