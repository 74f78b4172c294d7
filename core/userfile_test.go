package core

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// userFileWithin calls ReadUserFile and fails the test if it does not return within a few
// seconds (a FIFO used to block the open for ever).
func userFileWithin(t *testing.T, path, what string, limit int64) ([]byte, error) {
	t.Helper()
	type res struct {
		b   []byte
		err error
	}
	done := make(chan res, 1)
	go func() {
		b, err := ReadUserFile(path, what, limit)
		done <- res{b, err}
	}()
	select {
	case r := <-done:
		return r.b, r.err
	case <-time.After(10 * time.Second):
		// A reader stuck in open(2) cannot be stopped: end the test binary.
		panic(fmt.Sprintf("ReadUserFile(%s) still blocked after 10s", path))
	}
}

func mkfifo(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pipe")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	return p
}

// TestReadUserFileRefusesWhatIsNotAFile: devices, FIFOs and directories are refused by type,
// before anything is read, with an error that names the file and says why.
func TestReadUserFileRefusesWhatIsNotAFile(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"/dev/null": "a character device",
		"/dev/zero": "a character device",
		mkfifo(t):   "a named pipe",
		dir:         "a directory",
	}
	for path, kind := range cases {
		if _, err := os.Stat(path); err != nil {
			t.Logf("skipping %s: %v", path, err)
			continue
		}
		b, err := userFileWithin(t, path, "CA file", MaxPEMFileSize)
		want := "cannot read the CA file " + path + ": not a regular file (" + kind + "): give the path of a regular file"
		if err == nil || err.Error() != want || !errors.Is(err, ErrNotRegularFile) || b != nil {
			t.Errorf("%s: got %d bytes, %v\nwant %s", path, len(b), err, want)
		}
	}
	// A symbolic link to a regular file is that file.
	real := filepath.Join(dir, "real.pem")
	if err := os.WriteFile(real, []byte("pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.pem")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadUserFile(link, "CA file", MaxPEMFileSize); err != nil || string(b) != "pem" {
		t.Errorf("symlink: %q %v", b, err)
	}
	// A link to a FIFO is refused like the FIFO.
	fifoLink := filepath.Join(dir, "fifo-link")
	fifo := mkfifo(t)
	if err := os.Symlink(fifo, fifoLink); err != nil {
		t.Fatal(err)
	}
	if _, err := userFileWithin(t, fifoLink, "key file", MaxPEMFileSize); !errors.Is(err, ErrNotRegularFile) {
		t.Errorf("link to a FIFO: %v", err)
	}
	// A missing file keeps the open's error, so errors.Is finds fs.ErrNotExist.
	missing := filepath.Join(dir, "missing.yaml")
	_, err := ReadUserFile(missing, "configuration file", MaxConfigFileSize)
	if want := "cannot read the configuration file: open " + missing + ": no such file or directory"; err == nil || err.Error() != want || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v\nwant %s", err, want)
	}
}

// TestReadUserFileBoundsSize: a file of the limit is read, one byte more is refused without
// being read, and the memory taken stays near the file's size.
func TestReadUserFileBoundsSize(t *testing.T) {
	dir := t.TempDir()
	at := filepath.Join(dir, "at.pem")
	over := filepath.Join(dir, "over.pem")
	if err := os.WriteFile(at, bytes.Repeat([]byte("a"), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(over, bytes.Repeat([]byte("a"), 1001), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadUserFile(at, "CA file", 1000); err != nil || len(b) != 1000 {
		t.Errorf("at the limit: %d bytes, %v", len(b), err)
	}
	_, err := ReadUserFile(over, "CA file", 1000)
	if want := "cannot read the CA file " + over + ": file too large (1001 bytes; a CA file may have at most 1000 bytes)"; err == nil || err.Error() != want || !errors.Is(err, ErrFileTooLarge) {
		t.Errorf("over the limit: %v\nwant %s", err, want)
	}
	_, err = ReadUserFile(over, "configuration file", 1024)
	if err != nil {
		t.Errorf("under a limit in KiB: %v", err)
	}

	// A large file costs nothing to refuse (a sparse file: no disk is used).
	huge := filepath.Join(dir, "huge.yaml")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = ReadUserFile(huge, "configuration file", MaxConfigFileSize)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrFileTooLarge) || !strings.Contains(err.Error(), "(1073741824 bytes; a configuration file may have at most 1 MiB)") {
		t.Errorf("1 GiB file: %v", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Errorf("refusing a 1 GiB file allocated %d bytes", got)
	}
}

// TestLoadConfigFileOnlyFromRegularFiles: hamqtt config check, hamqtt_init_file and every
// other loader go through LoadConfigFile, which must neither hang on a FIFO nor read a device.
func TestLoadConfigFileOnlyFromRegularFiles(t *testing.T) {
	for _, path := range []string{"/dev/null", "/dev/zero", mkfifo(t), t.TempDir()} {
		done := make(chan error, 1)
		go func() {
			_, err := LoadConfigFile(path, LoadOptions{})
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, ErrNotRegularFile) || !strings.Contains(err.Error(), "cannot read the configuration file "+path+": not a regular file") {
				t.Errorf("%s: %v", path, err)
			}
		case <-time.After(10 * time.Second):
			panic("LoadConfigFile(" + path + ") still blocked after 10s")
		}
	}
	// HAMQTT_CONFIG naming a FIFO is refused the same way.
	fifo := mkfifo(t)
	_, err := LoadDefaultConfig(LoadOptions{Getenv: cfgEnvOf(map[string]string{ConfigEnv: fifo})})
	if !errors.Is(err, ErrNotRegularFile) {
		t.Errorf("HAMQTT_CONFIG=%s: %v", fifo, err)
	}
}

// TestConfigTLSFilesOnlyFromRegularFiles: cafile, certfile and keyfile naming a device or a
// FIFO are errors at their line, returned at once; a PEM file above MaxPEMFileSize too.
func TestConfigTLSFilesOnlyFromRegularFiles(t *testing.T) {
	dir := t.TempDir()
	cert, _ := cfgWriteCert(t, dir)
	fifo := mkfifo(t)
	big := filepath.Join(dir, "big.pem")
	if err := os.WriteFile(big, bytes.Repeat([]byte("#"), MaxPEMFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	const at = "bad.yaml:6: clusters[0].connections[0].tls."
	cases := []struct{ tls, want string }{
		{"cafile: /dev/zero", at + "cafile: cannot read the CA file /dev/zero: not a regular file (a character device): give the path of a regular file"},
		{"cafile: " + fifo, at + "cafile: cannot read the CA file " + fifo + ": not a regular file (a named pipe): give the path of a regular file"},
		{"cafile: " + big, at + "cafile: cannot read the CA file " + big + ": file too large (1048577 bytes; a CA file may have at most 1 MiB)"},
		{"certfile: /dev/zero\n          keyfile: " + cert, at + "certfile: cannot read the certificate file /dev/zero: not a regular file (a character device): give the path of a regular file"},
		{"keyfile: " + fifo + "\n          certfile: " + cert, at + "keyfile: cannot read the key file " + fifo + ": not a regular file (a named pipe): give the path of a regular file"},
	}
	for _, c := range cases {
		text := "clusters:\n  - name: s\n    connections:\n      - connection: {serverURIs: [ssl://h]}\n        tls:\n          " + c.tls + "\n"
		done := make(chan error, 1)
		go func() {
			_, err := ParseConfig([]byte(text), "bad.yaml", LoadOptions{})
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || err.Error() != c.want {
				t.Errorf("tls %q:\n got %v\nwant %s", c.tls, err, c.want)
			}
		case <-time.After(10 * time.Second):
			panic("ParseConfig with tls " + c.tls + " still blocked after 10s")
		}
	}
}

// TestOpenUserFileDoesNotBlockOnAFIFO: the check on the open descriptor, which catches a path
// replaced by a FIFO after it was looked at, opens without blocking.
func TestOpenUserFileDoesNotBlockOnAFIFO(t *testing.T) {
	fifo := mkfifo(t)
	done := make(chan error, 1)
	go func() {
		f, _, err := openUserFile(fifo, "CA file")
		if f != nil {
			f.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotRegularFile) || !strings.Contains(err.Error(), "(a named pipe)") {
			t.Errorf("FIFO: %v", err)
		}
	case <-time.After(10 * time.Second):
		panic("opening a FIFO blocked")
	}
}
