package brokertest

import "syscall"

// sysProcAttr puts mosquitto in its own process group, so a Ctrl-C meant for
// the CLI demo does not reach it as well, and kills it if the parent dies
// (e.g. a test binary panicking on timeout) so no broker outlives its user.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
