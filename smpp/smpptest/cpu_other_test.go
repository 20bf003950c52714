//go:build !unix

package smpptest_test

func processCPU() (int64, bool) { return 0, false }
