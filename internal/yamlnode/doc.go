// Package yamlnode reads Vigil's YAML files (rule files, process models,
// resource objects and the engines' sections of them, profile classes)
// from yaml.Node trees, the same way for all of them:
//
//   - one set of scalar readers (String, Strings, Bool, Int, Number,
//     Fraction, Duration, Severity, CIDR) with one wording for each
//     mistake, and Decode, which fills tagged Go structs with them;
//   - one set of limits (MaxFileBytes for a file, MaxDuration for a
//     duration);
//   - every mistake collected at once (Problems) with its position as
//     file:line:column and its path in the document (engines[1].kind);
//   - "did you mean" for unknown keys.
package yamlnode
