package store

import "path/filepath"

// FileName is the store's database file in a monitor's data directory.
const FileName = "vigil.db"

// PathIn is the store's database file in the data directory dir.
func PathIn(dir string) string { return filepath.Join(dir, FileName) }
