// Package infra holds the sample shop's infrastructure as code: provision.sh, update.sh,
// smoke.sh and teardown.sh (settings in lib.sh) start and stop our own PostgreSQL, Redis,
// shakedown proxy daemon, supervised shop replicas in network namespaces, HAProxy and
// Prometheus. Its test runs them for real: provision, smoke test, teardown, and the bad
// inputs (unknown version, a port in use, a second pipeline).
package infra
