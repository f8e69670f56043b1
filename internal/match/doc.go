// Package match is Vigil's match language: which events a rule, a model's
// emission, a profile class (and, next, a response's criteria) applies to.
// A match is written in YAML as a mapping of "type" (event types: exact,
// a prefix ending in "*", or "*") and "where", a condition: a mapping of
// field conditions "field|modifiers: values" (all must hold), with all,
// any and not to combine them, and lists meaning "any of" (docs/RULES.md
// describes the language).
//
// The package reads a condition from a YAML node with every node's
// position (ParseDoc, ParseCondition), compiles it (Compile, New, Parse)
// and evaluates it against an *event.Event (Match.Matches, Cond.Eval with
// a Ctx). For engines that run many conditions it numbers the fields they
// read (Slots), so that a Ctx reads and prepares each field once per
// event, and it names what an index can file a condition under: plain
// equalities (Equalities) and literals its text must contain
// (Leaf.Literals).
package match
