//go:build !unix

package smpptest

// ProcessCPU returns the CPU time the process has used; false where the
// system cannot tell, as here.
func ProcessCPU() (int64, bool) { return 0, false }
