//go:build !race

package smpptest_test

const raceEnabled = false
