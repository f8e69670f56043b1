// Package kinds: temporary, deleted before merging.
package kinds
