//go:build leakcheck

package main

import (
	"fmt"

	"go.uber.org/goleak"
)

// checkLeaks fails the process when a goroutine outlives the command; the CLI tests build
// the binary with -tags leakcheck.
func checkLeaks() error {
	if err := goleak.Find(); err != nil {
		return fmt.Errorf("leaked goroutines: %w", err)
	}
	return nil
}
