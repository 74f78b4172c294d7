// Package version holds hamqtt's version: the one place it is written. The library
// (hamqtt_version), the hamqtt command (hamqtt --version) and the C, Python and Node packages
// give this value; the copies that other build systems need as literals (the C header's
// macros, CMake's project version, the Python and Node package metadata, the changelog's
// latest entry) are checked against it by this package's test, and written by
// scripts/set-version.sh.
package version

// Version is the release, MAJOR.MINOR.PATCH.
const Version = "0.5.0"
