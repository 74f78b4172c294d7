//go:build unix

package core

import "syscall"

func setNonblock(fd int) error {
	return syscall.SetNonblock(fd, true)
}
