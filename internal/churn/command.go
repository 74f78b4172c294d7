package churn

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// splitCommand splits a command template into words the way a POSIX shell would for a simple
// command: blanks separate words; 'single quotes' keep everything literally; "double quotes"
// keep blanks and take a backslash before " \ $ or ` as an escape; outside quotes a backslash
// escapes the next character. There is no expansion of variables, globs or substitutions.
func splitCommand(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool // inside a word
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		case c == '\'':
			in = true
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated single quote")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case c == '"':
			in = true
			closed := false
			for i++; i < len(s); i++ {
				if s[i] == '"' {
					closed = true
					break
				}
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if !closed {
				return nil, errors.New("unterminated double quote")
			}
		case c == '\\':
			in = true
			if i+1 == len(s) {
				return nil, errors.New("trailing backslash")
			}
			i++
			cur.WriteByte(s[i])
		default:
			in = true
			cur.WriteByte(c)
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}

var (
	assignment  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)
	placeholder = regexp.MustCompile(`\{[A-Za-z_]+\}`)
)

// command is a template made ready to run: the environment assignments that lead it (NAME=value
// words, as a shell takes them) and the argument vector.
type command struct {
	env  []string
	argv []string
}

// expand splits template and replaces the placeholders {name} of vars in every word. An
// unknown placeholder is an error, so that a typo does not reach the client as a literal.
func expand(template string, vars map[string]string) (command, error) {
	words, err := splitCommand(template)
	if err != nil {
		return command{}, fmt.Errorf("command %q: %w", template, err)
	}
	var cmd command
	for _, w := range words {
		var bad string
		w = placeholder.ReplaceAllStringFunc(w, func(p string) string {
			v, ok := vars[p[1:len(p)-1]]
			if !ok {
				bad = p
				return p
			}
			return v
		})
		if bad != "" {
			return command{}, fmt.Errorf("command %q: unknown placeholder %s", template, bad)
		}
		if len(cmd.argv) == 0 && assignment.MatchString(w) {
			cmd.env = append(cmd.env, w)
			continue
		}
		cmd.argv = append(cmd.argv, w)
	}
	if len(cmd.argv) == 0 {
		return command{}, fmt.Errorf("command %q: no program", template)
	}
	return cmd, nil
}

// labelOf names an API after the program of a command template: its base name without
// extension ("churnclient", "churn_client", "python3").
func labelOf(template string) string {
	cmd, err := expand(placeholder.ReplaceAllString(template, "x"), nil)
	if err != nil {
		return "client"
	}
	return strings.TrimSuffix(filepath.Base(cmd.argv[0]), filepath.Ext(cmd.argv[0]))
}
