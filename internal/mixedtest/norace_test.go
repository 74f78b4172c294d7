//go:build !race

package mixedtest

const raceEnabled = false
