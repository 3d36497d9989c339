// Package proxy is shakedown's fault proxy: a TCP proxy whose links carry chains of
// faults ("toxics", in Toxiproxy's words) per direction, and a daemon that serves a
// Toxiproxy-compatible REST API over a set of such proxies.
//
// A link with no fault moves bytes in the kernel (splice(2) between the two sockets;
// small messages by one read and one write); a link with faults moves them through a
// bounded queue where each toxic is a stage that schedules, slices, drops or ends the
// stream. Bytes are stamped with the kernel's receive time and let out when a timerfd
// alarm rings, so a latency toxic is exact to a fraction of a millisecond. Faults can be
// added and removed on live connections: a link on the fast path takes up a new chain
// with the next bytes it reads (or at once, through a read deadline, for a timeout), a
// link on the toxic path with its next event; it switches path and resumes, so no byte is
// lost or reordered.
//
// Beside Toxiproxy's toxics (latency, bandwidth, slow_close, timeout, reset_peer,
// slicer, limit_data) the proxy has "down" (the proxy refuses and drops its connections
// while the toxic exists, keeping its port bound on Linux so that nothing else is given it
// meanwhile), HTTP/1.1 faults ("http_abort", "http_delay"),
// a time to live per toxic, and leases: toxics added under a lease are removed when
// the lease is not renewed in time, so a fault cannot outlive the run that holds it.
package proxy
