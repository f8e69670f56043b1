// Package faults is Vigil's fault suite: it runs the vigil binary as an
// operator would and subjects it to crashes in random orders under load,
// a bus outage, a full disk and its recovery, hostile input sized to
// exhaust memory, and a local attacker on the bus, checking after each
// that nothing acknowledged was lost. Every test prints its figures (lines
// starting "figure:"); `make test` runs the suite verbosely so that they
// show, and docs/RELIABILITY.md collects them.
package faults
