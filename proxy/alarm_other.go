//go:build !linux

package proxy

import "time"

// alarm is Linux only (a timerfd); elsewhere links wake with runtime timers alone.
type alarm struct{ c chan struct{} }

func newAlarm() *alarm         { return nil }
func (a *alarm) arm(time.Time) {}
func (a *alarm) disarm()       {}
