package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// env is what a command sees of the process, so the plumbing stays in one place.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	stdinFile      *os.File // nil when stdin is not a file
	stdoutFile     *os.File
	stderrFile     *os.File
	// stopSignals restores the default signal behaviour, so a second Ctrl-C ends the process
	// at once while a command is shutting down after the first one.
	stopSignals func()
}

func newEnv(stopSignals func()) *env {
	return &env{
		stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr,
		stdinFile: os.Stdin, stdoutFile: os.Stdout, stderrFile: os.Stderr,
		stopSignals: stopSignals,
	}
}

// isTerminal reports whether f is a character device (a terminal). golang.org/x/term is not
// a dependency of the module; a character device check is what matters here: /dev/null is
// one too, but nobody watches a live view there.
func isTerminal(f *os.File) bool {
	if f == nil {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// usageError is a bad command line: the command prints its usage and exits 2.
type usageError struct {
	fs  *flag.FlagSet
	msg string
}

func (e *usageError) Error() string { return e.msg }

func usagef(fs *flag.FlagSet, format string, args ...any) error {
	return &usageError{fs: fs, msg: fmt.Sprintf(format, args...)}
}

// exitStatus makes a command end with a given status after it already reported why.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// helpShown reports that -h printed the usage: exit 0.
var helpShown = errors.New("help shown")

// exitCode reports err the way its kind asks for and returns the process exit status.
func exitCode(e *env, cmd string, err error) int {
	var ue *usageError
	var es exitStatus
	switch {
	case err == nil, errors.Is(err, helpShown):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "hamqtt %s: %s\n\n", cmd, ue.msg)
		if ue.fs != nil {
			ue.fs.SetOutput(e.stderr)
			ue.fs.Usage()
			// Repeated last, where a terminal user looks first.
			fmt.Fprintf(e.stderr, "\nhamqtt %s: %s\n", cmd, ue.msg)
		}
		return exitUsage
	case errors.As(err, &es):
		return int(es)
	}
	fmt.Fprintf(e.stderr, "hamqtt %s: %v\n", cmd, err)
	return exitFailure
}

// newFlagSet returns a flag set whose usage prints synopsis, flags and after (examples).
func newFlagSet(e *env, name, synopsis, after string) *flag.FlagSet {
	fs := flag.NewFlagSet("hamqtt "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		w := fs.Output()
		if w == io.Discard {
			return // the flag package reporting an error: exitCode prints the usage
		}
		fmt.Fprintf(w, "Usage:\n  %s\n\nFlags:\n", strings.TrimSpace(synopsis))
		fs.PrintDefaults()
		if after != "" {
			fmt.Fprintf(w, "\n%s\n", strings.TrimRight(after, "\n"))
		}
		fmt.Fprint(w, "\nExit status: 0 success, 1 runtime failure, 2 usage error.\n")
	}
	fs.Bool("?", false, "print this help (same as -h)")
	return fs
}

// parseFlags parses args, allowing flags after positional arguments (hamqtt config check FILE
// -strict), and returns the positional arguments. -h, -help and -? print the usage to stdout.
func parseFlags(e *env, fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, showHelp(e, fs)
			}
			return nil, usagef(fs, "%s", fixFlagError(err))
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			positional = append(positional, args[1:]...)
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	if f := fs.Lookup("?"); f != nil && f.Value.String() == "true" {
		return nil, showHelp(e, fs)
	}
	return positional, nil
}

func showHelp(e *env, fs *flag.FlagSet) error {
	fs.SetOutput(e.stdout)
	fs.Usage()
	return helpShown
}

// fixFlagError rewords the flag package's messages into what to do about them.
func fixFlagError(err error) string {
	s := err.Error()
	if rest, ok := strings.CutPrefix(s, "flag provided but not defined: "); ok {
		return fmt.Sprintf("unknown flag %s", rest)
	}
	if rest, ok := strings.CutPrefix(s, "flag needs an argument: "); ok {
		return fmt.Sprintf("flag %s needs a value", rest)
	}
	return s
}

// flagWasSet reports whether the named flag appeared on the command line.
func flagWasSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

// stringList is a repeatable string flag (-t a -t b).
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error {
	*l = append(*l, s)
	return nil
}
