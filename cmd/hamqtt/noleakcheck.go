//go:build !leakcheck

package main

// checkLeaks is a no-op outside the CLI tests (see leakcheck.go).
func checkLeaks() error { return nil }
