//go:build !linux

package main

import "syscall"

// childAttr: only Linux has a parent-death signal; elsewhere the children
// are stopped by the signal handling alone.
func childAttr() *syscall.SysProcAttr { return nil }

// dieWithParent does nothing outside Linux.
func dieWithParent() error { return nil }
