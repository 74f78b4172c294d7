package churn

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// BuildGoClient builds internal/cmd/churnclient into dir and returns the binary's path. race
// builds it with the race detector, for tests that run with it.
func BuildGoClient(dir string, race bool) (string, error) {
	bin := filepath.Join(dir, "churnclient")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	// The toolchain that built the tests, rather than whichever go is first on PATH.
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	cmd := exec.Command(gobin, append(args, "github.com/hamqtt/hamqtt/internal/cmd/churnclient")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the Go churn client: %v\n%s", err, out)
	}
	return bin, nil
}
