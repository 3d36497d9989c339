//go:build !unix

package process

// statID says nothing where there is no /proc to read: process targets refuse there anyway.
func statID(string) (fileID, bool) { return fileID{}, false }
