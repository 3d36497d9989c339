package shakedown

import "runtime"

// NeedsLinux is the error of a fault, target or command that needs Linux (pidfds, /proc,
// nftables, cgroups, network namespaces) on a build for another system: what names it
// ("process.pause", "the run journal"). Its kind is KindUnavailable, exit code 5: the file
// is valid (validate and plan accept it everywhere), this machine cannot carry it out.
func NeedsLinux(what string) error {
	return Errorf(KindUnavailable, "%s needs Linux; this is %s", what, runtime.GOOS)
}

// RequireLinux is nil on Linux, and elsewhere NeedsLinux(what).
func RequireLinux(what string) error {
	if runtime.GOOS != "linux" {
		return NeedsLinux(what)
	}
	return nil
}
