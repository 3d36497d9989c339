//go:build !unix

package userfile

// openFlags: elsewhere, opening a file does not block on what it names.
const openFlags = 0

func noReader(error) bool { return false }
