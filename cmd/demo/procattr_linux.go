//go:build linux

package main

import (
	"fmt"
	"os"
	"syscall"
)

// childAttr makes the kernel send the child SIGTERM when this process dies
// (Pdeathsig), however it dies. The signal follows the OS thread that
// started the child; the Go runtime ends no thread while the process lives,
// except one a goroutine locked (runtime.LockOSThread) and left locked,
// which this program never does.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}

// dieWithParent asks the kernel for SIGTERM when this process's parent dies
// (prctl PR_SET_PDEATHSIG), and fails when the parent is already gone.
func dieWithParent() error {
	ppid := os.Getppid()
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0); errno != 0 {
		return fmt.Errorf("prctl(PR_SET_PDEATHSIG): %w", errno)
	}
	if os.Getppid() != ppid {
		return fmt.Errorf("the parent process (%d) is gone", ppid)
	}
	return nil
}
