//go:build !linux

package proxy

import (
	"syscall"
	"time"
)

// alarm is Linux only (a timerfd); elsewhere links wake with runtime timers alone.
type alarm struct{ c chan struct{} }

func newAlarm(func(time.Time) (time.Time, bool)) *alarm { return nil }
func (a *alarm) arm(time.Time)                          {}
func (a *alarm) disarm()                                {}

func (l *link) releaser(*queue, syscall.RawConn, *time.Time) func(time.Time) (time.Time, bool) {
	return nil
}
