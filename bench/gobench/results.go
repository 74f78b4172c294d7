package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Row is one line of bench/RESULTS.md: a hamqtt figure beside its peer's, from the same run.
type Row struct {
	Section   string    `json:"section"`   // go, c, python, node, failover, footprint
	Metric    string    `json:"metric"`    // what was measured, e.g. "QoS 0, 64 B"
	Impl      string    `json:"impl"`      // the hamqtt side
	Peer      string    `json:"peer"`      // the peer it is compared with ("" for none)
	Unit      string    `json:"unit"`      // msg/s, ms, MB, ...
	Value     float64   `json:"value"`     // median of Reps
	PeerValue float64   `json:"peerValue"` // median of PeerReps
	Reps      []float64 `json:"reps,omitempty"`
	PeerReps  []float64 `json:"peerReps,omitempty"`
	Lower     bool      `json:"lower"` // lower is better (latency, memory, size)
	Lost      int       `json:"lost,omitempty"`
	PeerLost  int       `json:"peerLost,omitempty"`
	Target    string    `json:"target,omitempty"` // e.g. ">= 0.95x", "< 50 ms"
	Met       *bool     `json:"met,omitempty"`
	Note      string    `json:"note,omitempty"`
}

// Ratio is hamqtt over peer (0 when there is no peer figure).
func (r Row) Ratio() float64 {
	if r.PeerValue == 0 || r.Peer == "" {
		return 0
	}
	return r.Value / r.PeerValue
}

// Section is what one subcommand writes: its rows and free-form notes (settings, caveats).
type Section struct {
	Name     string    `json:"name"`
	Title    string    `json:"title"`
	Started  time.Time `json:"started"`
	Duration string    `json:"duration"`
	Settings []string  `json:"settings,omitempty"`
	Rows     []Row     `json:"rows"`
	Notes    []string  `json:"notes,omitempty"`
	Missing  []string  `json:"missing,omitempty"` // rows that could not be measured, and why
	Raw      string    `json:"raw,omitempty"`     // verbatim output of an external script
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// percentile with linear interpolation between closest ranks (p in 0..100).
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 1 {
		return s[0]
	}
	pos := p / 100 * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return s[lo] + (s[hi]-s[lo])*(pos-float64(lo))
}

func boolp(b bool) *bool { return &b }

func writeSection(dir string, s *Section) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, s.Name+".json"), b, 0o644)
}

func readSection(path string) (*Section, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Section
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &s, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}
