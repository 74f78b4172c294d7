package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/hamqtt/hamqtt/core"
)

const configSynopsis = `hamqtt config check [-strict] [-quiet] FILE...`

const configHelp = `config check loads each FILE (- for standard input) the way start, pub, sub and status do,
prints its clusters on stdout and its warnings on stderr, each as FILE:LINE: KEY: what to do.
A file with errors makes the command exit 1; warnings alone do not (unless -strict).

Examples:
  hamqtt config check etc/mqttv5-client.yaml
  hamqtt config check -strict etc/*.yaml`

func runConfig(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "config", configSynopsis, configHelp)
	strict := fs.Bool("strict", false, "unknown keys are errors, not warnings")
	quiet := fs.Bool("quiet", false, "print only problems")
	if len(args) == 0 {
		return usagef(fs, "missing subcommand: use hamqtt config check FILE")
	}
	switch args[0] {
	case "check":
	case "-h", "-help", "--help", "-?":
		return showHelp(e, fs)
	default:
		return usagef(fs, "unknown subcommand %q: use hamqtt config check FILE", args[0])
	}
	files, err := parseFlags(e, fs, args[1:])
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usagef(fs, "missing FILE: give the config file to check, e.g. hamqtt config check etc/mqttv5-client.yaml")
	}
	bad := 0
	for i, path := range files {
		if i > 0 && !*quiet {
			fmt.Fprintln(e.stdout)
		}
		if !checkConfigFile(e, path, core.LoadOptions{Strict: *strict}, *quiet) {
			bad++
		}
	}
	if bad > 0 {
		return exitStatus(exitFailure)
	}
	return nil
}

// checkConfigFile loads one file and reports it; it returns whether the file is valid.
func checkConfigFile(e *env, path string, opts core.LoadOptions, quiet bool) bool {
	var fc *core.FileConfig
	var err error
	if path == "-" {
		var data []byte
		// At most one byte more than a configuration may have: ParseConfig refuses that.
		if data, err = io.ReadAll(io.LimitReader(e.stdin, core.MaxConfigFileSize+1)); err == nil {
			fc, err = core.ParseConfig(data, "<stdin>", opts)
		}
	} else {
		fc, err = core.LoadConfigFile(path, opts)
	}
	if err != nil {
		var lines []string
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				lines = append(lines, e.Error())
			}
		} else {
			lines = []string{err.Error()}
		}
		for _, l := range lines {
			fmt.Fprintf(e.stderr, "%s\n", l)
		}
		fmt.Fprintf(e.stderr, "%s: INVALID, %d %s\n", path, len(lines), plural(len(lines), "error", "errors"))
		return false
	}
	for _, w := range fc.Warnings {
		fmt.Fprintf(e.stderr, "warning: %s\n", w)
	}
	// The file may still describe a cluster the engine refuses (core.New validates more).
	valid := true
	for _, c := range fc.Clusters {
		if s, ok := fc.Settings[c.Name]; ok && !s.Enabled {
			continue
		}
		cl, err := core.New(c)
		if err != nil {
			line := fc.Settings[c.Name].Line
			fmt.Fprintf(e.stderr, "%s:%d: %v\n", fc.Source, line, err)
			valid = false
			continue
		}
		cl.Close()
	}
	if !valid {
		fmt.Fprintf(e.stderr, "%s: INVALID\n", path)
		return false
	}
	if quiet {
		return true
	}
	fmt.Fprintf(e.stdout, "%s: OK, %d %s (default %s), %d %s\n", fc.Source, len(fc.Clusters),
		plural(len(fc.Clusters), "cluster", "clusters"), fc.DefaultCluster, len(fc.Warnings), plural(len(fc.Warnings), "warning", "warnings"))
	for _, c := range fc.Clusters {
		s := fc.Settings[c.Name]
		var notes []string
		if !s.Enabled {
			notes = append(notes, "DISABLED")
		} else if !s.AutoConnect {
			notes = append(notes, "autoConnect false")
		}
		notes = append(notes, "publisher "+c.PublisherType.String(), fmt.Sprintf("fos %d", c.FoS))
		if c.Connection.ProtocolVersion == core.MQTT5 {
			notes = append(notes, "MQTT 5")
		} else {
			notes = append(notes, "MQTT 3.1.1")
		}
		if c.Dedup {
			notes = append(notes, "dedup")
		}
		if len(s.Bridges.In)+len(s.Bridges.Out) > 0 {
			notes = append(notes, fmt.Sprintf("bridges in %d, out %d", len(s.Bridges.In), len(s.Bridges.Out)))
		}
		if len(s.PluginNames) > 0 {
			notes = append(notes, "plugins "+strings.Join(s.PluginNames, ","))
		}
		if ob := s.Outbox; ob != nil && ob.Dir != "" {
			notes = append(notes, "disk outbox "+ob.Dir)
		} else if ob != nil {
			notes = append(notes, "memory outbox")
		}
		fmt.Fprintf(e.stdout, "  cluster %s (line %d): %s\n", c.Name, s.Line, strings.Join(notes, ", "))
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		for i, ep := range c.Endpoints {
			name := ep.Name
			if name == "" {
				name = fmt.Sprintf("%s-%d", c.Name, i+1)
			}
			fmt.Fprintf(tw, "    %s\t%s", name, ep.URI)
			if ep.TopicBase != "" {
				fmt.Fprintf(tw, "\ttopicBase %s", ep.TopicBase)
			}
			fmt.Fprintln(tw)
		}
		tw.Flush()
	}
	return true
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
