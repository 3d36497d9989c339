//go:build !unix

package history

// flockFile is a no-op where flock does not exist: concurrent first opens of one SQLite file
// may then race to migrate it, and all but one fail with an error that says so.
func flockFile(string) (func(), error) { return func() {}, nil }
