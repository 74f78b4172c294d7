//go:build unix

package core

import "syscall"

func setNonblock(fd int) error {
	return syscall.SetNonblock(fd, true)
}

// newWakeSocket returns the two ends of a non-blocking, close-on-exec Unix stream socket
// pair: the event descriptor handed to event loops, and the end the queue writes to.
func newWakeSocket() (r, w int, err error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return -1, -1, err
	}
	for _, fd := range fds {
		syscall.CloseOnExec(fd)
		if err := syscall.SetNonblock(fd, true); err != nil {
			syscall.Close(fds[0])
			syscall.Close(fds[1])
			return -1, -1, err
		}
	}
	// Only the read end is handed out; the write end never needs to be read from.
	_ = syscall.Shutdown(fds[0], syscall.SHUT_WR)
	return fds[0], fds[1], nil
}
