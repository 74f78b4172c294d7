//go:build unix && !linux

package brokertest

import "syscall"

// sysProcAttr puts mosquitto in its own process group, so a Ctrl-C meant for
// the CLI demo does not reach it as well.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
