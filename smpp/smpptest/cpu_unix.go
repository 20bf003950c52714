//go:build unix

package smpptest

import "syscall"

// ProcessCPU returns the CPU time (user + system, nanoseconds) the process
// has used; false where the system cannot tell.
func ProcessCPU() (int64, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return ru.Utime.Nano() + ru.Stime.Nano(), true
}
