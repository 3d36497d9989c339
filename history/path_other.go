//go:build !unix

package history

// sqlitePath takes the path as it is: package private has nothing to check it with here.
func sqlitePath(path string) (string, error) { return path, nil }
