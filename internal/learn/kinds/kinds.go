// Package kinds registers every process classifier model kind Vigil has;
// its only job is to import the packages that implement them for their
// registration with learn.Register. A program that trains or loads models
// imports it:
//
//	import _ "github.com/vigil-ids/vigil/internal/learn/kinds"
package kinds

import (
	_ "github.com/vigil-ids/vigil/internal/learn/forest" // "forest"
	_ "github.com/vigil-ids/vigil/internal/learn/linear" // "logreg", "svm"
	_ "github.com/vigil-ids/vigil/internal/learn/lstm"   // "lstm", "bilstm", "inception"
)
