package main

import (
	"fmt"
	"strings"

	"github.com/hamqtt/hamqtt/core"
)

// loadClusterConfigs loads the clusters of path or, when path is empty, of $HAMQTT_CONFIG or
// the built-in default (cluster-default on tcp://localhost:1883-1885).
func loadClusterConfigs(path string) (*clusterSet, error) {
	var fc *core.FileConfig
	var err error
	if path == "" {
		fc, err = core.LoadDefaultConfig(core.LoadOptions{})
	} else {
		fc, err = core.LoadConfigFile(path, core.LoadOptions{})
	}
	if err != nil {
		return nil, configLoadError(err)
	}
	return newClusterSet(fc), nil
}

func newClusterSet(fc *core.FileConfig) *clusterSet {
	set := &clusterSet{source: fc.Source, defaultName: fc.DefaultCluster, warnings: fc.Warnings, file: fc}
	for _, c := range fc.Clusters {
		if s, ok := fc.Settings[c.Name]; ok && !s.Enabled {
			set.disabled = append(set.disabled, c.Name)
			continue
		}
		set.clusters = append(set.clusters, c)
	}
	return set
}

// configLoadError lists every error of a config file, one per line.
func configLoadError(err error) error {
	var lines []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			lines = append(lines, e.Error())
		}
	} else {
		lines = []string{err.Error()}
	}
	if len(lines) == 1 {
		return fmt.Errorf("bad configuration: %s", lines[0])
	}
	return fmt.Errorf("bad configuration, %d errors:\n  %s", len(lines), strings.Join(lines, "\n  "))
}
