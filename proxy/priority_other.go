//go:build !linux

package proxy

import "errors"

// SetNice is Linux only: elsewhere the daemon runs at the priority it was started with.
func SetNice(nice int) error { return errors.New("setting the threads' priority is Linux only") }
