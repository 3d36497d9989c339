// Package netfd holds what code that waits on sockets itself, outside Go's poller, needs
// on Linux: a descriptor of a connection's own, an epoll wait to the nanosecond, the
// wake-up of an eventfd, and the kernel's receive time of what a read returned (and the
// transmit time of what was written, from the error queue). The load generator's event
// loop and the benches' reference relays and drivers use it.
package netfd
