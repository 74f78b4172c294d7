package core

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// Files a user names (configuration files, PEM files) are read only when they are regular
// files of a bounded size. A path to /dev/zero would otherwise be read until memory runs out,
// a FIFO without a writer would block the open for ever, and a huge file would be held whole.

const (
	// MaxConfigFileSize bounds a configuration file, and the YAML text ParseConfig accepts:
	// 1 MiB. The largest real configuration (4096 brokers one per line, with comments) is a
	// few hundred KiB, and parsing YAML can take about 100 bytes of memory per byte of text,
	// so the bound keeps a parse below about 120 MB whatever the text holds.
	MaxConfigFileSize = 1 << 20
	// MaxPEMFileSize bounds a PEM file (CA certificates, a client certificate, a private key):
	// 1 MiB, several times a full system CA bundle.
	MaxPEMFileSize = 1 << 20
)

// ErrNotRegularFile is wrapped by the error ReadUserFile returns for a path that names a
// directory, a device, a FIFO, a socket or anything else that is not a regular file.
var ErrNotRegularFile = errors.New("not a regular file")

// ErrFileTooLarge is wrapped by the error ReadUserFile returns for a file above its limit.
var ErrFileTooLarge = errors.New("file too large")

// ReadUserFile reads the file a user named, described by what ("configuration file", "CA
// file") in errors. It reads only a regular file of at most limit bytes: anything else is an
// error naming the file and why (wrapping ErrNotRegularFile or ErrFileTooLarge; errors of
// the open itself wrap the *fs.PathError, so errors.Is(err, fs.ErrNotExist) works). It never
// blocks on a FIFO and never reads more than limit+1 bytes: the file is opened non-blocking,
// and its type and size are checked on the open descriptor before anything is read.
func ReadUserFile(path, what string, limit int64) ([]byte, error) {
	if limit < 0 {
		limit = 0
	}
	// Refuse what is plainly not a regular file before opening it: opening a device can have
	// effects of its own. The descriptor is checked again below, as the path may change.
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return nil, notRegular(path, what, st.Mode())
	}
	f, st, err := openUserFile(path, what)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st.Size() > limit {
		return nil, tooLarge(path, what, fmt.Sprintf("%d bytes", st.Size()), limit)
	}
	var buf bytes.Buffer
	buf.Grow(int(st.Size()) + 1)
	if _, err := buf.ReadFrom(io.LimitReader(f, limit+1)); err != nil {
		return nil, fmt.Errorf("cannot read the %s: %w", what, err)
	}
	if int64(buf.Len()) > limit { // it grew since the stat
		return nil, tooLarge(path, what, fmt.Sprintf("more than %d bytes", limit), limit)
	}
	return buf.Bytes(), nil
}

// openUserFile opens path without blocking (a FIFO without a writer would block a plain
// open) and checks on the open descriptor that it is a regular file.
func openUserFile(path, what string) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read the %s: %w", what, err)
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = notRegular(path, what, st.Mode())
	} else if err != nil {
		err = fmt.Errorf("cannot read the %s: %w", what, err)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, st, nil
}

func notRegular(path, what string, mode fs.FileMode) error {
	kind := "not a plain file"
	switch {
	case mode.IsDir():
		kind = "a directory"
	case mode&fs.ModeNamedPipe != 0:
		kind = "a named pipe"
	case mode&fs.ModeSocket != 0:
		kind = "a socket"
	case mode&fs.ModeCharDevice != 0:
		kind = "a character device"
	case mode&fs.ModeDevice != 0:
		kind = "a block device"
	}
	return fmt.Errorf("cannot read the %s %s: %w (%s): give the path of a regular file", what, path, ErrNotRegularFile, kind)
}

func tooLarge(path, what, size string, limit int64) error {
	return fmt.Errorf("cannot read the %s %s: %w (%s; a %s may have at most %s)", what, path, ErrFileTooLarge, size, what, byteSize(limit))
}

// byteSize writes n bytes as KiB or MiB when it is a whole number of them.
func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
