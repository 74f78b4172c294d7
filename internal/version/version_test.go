package version

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestEveryCopyAgrees: each literal copy of the version that another build system needs is
// the same as Version (scripts/set-version.sh writes them all).
func TestEveryCopyAgrees(t *testing.T) {
	major, rest, _ := strings.Cut(Version, ".")
	minor, patch, _ := strings.Cut(rest, ".")
	for _, c := range []struct {
		file    string
		pattern string
		want    string
	}{
		{"include/hamqtt.h", `#define HAMQTT_VERSION_STRING "([^"]*)"`, Version},
		{"include/hamqtt.h", `#define HAMQTT_VERSION_MAJOR (\d+)`, major},
		{"include/hamqtt.h", `#define HAMQTT_VERSION_MINOR (\d+)`, minor},
		{"include/hamqtt.h", `#define HAMQTT_VERSION_PATCH (\d+)`, patch},
		{"CMakeLists.txt", `project\(hamqtt VERSION ([0-9.]+)`, Version},
		{"bindings/python/pyproject.toml", `(?m)^version = "([^"]*)"`, Version},
		{"bindings/python/src/hamqtt/__init__.py", `(?m)^__version__ = "([^"]*)"`, Version},
		{"bindings/node/package.json", `(?m)^  "version": "([^"]*)"`, Version},
		{"CHANGELOG.md", `(?m)^## ([0-9]+\.[0-9]+\.[0-9]+)`, Version},
	} {
		data, err := os.ReadFile(filepath.Join("..", "..", c.file))
		if err != nil {
			t.Error(err)
			continue
		}
		m := regexp.MustCompile(c.pattern).FindSubmatch(data)
		switch {
		case m == nil:
			t.Errorf("%s: no match for %s", c.file, c.pattern)
		case string(m[1]) != c.want:
			t.Errorf("%s says %q where internal/version says %q: run scripts/set-version.sh %s", c.file, m[1], c.want, Version)
		}
	}
}
