//go:build race

package mixedtest

const raceEnabled = true
