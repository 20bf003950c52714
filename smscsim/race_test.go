//go:build race

package smscsim_test

const raceEnabled = true
