package main

import (
	"regexp"
	"strconv"
	"strings"
)

// maxBrokers caps how many brokers one endpoint string may expand to. core.ExpandURIs expands
// ranges without a limit and core.New checks endpoints pairwise, so "tcp://10.0.0.1-254:1-65535"
// (16.6 million URIs) would stall the caller for minutes; no virtual cluster needs that many.
const maxBrokers = 1024

var rangeRE = regexp.MustCompile(`(\d+)-(\d+)`)

// estimateBrokers returns an upper bound of the URIs spec expands to, computed from its
// ranges without expanding them (a hostname such as "edge1-2" counts as a range: an
// overestimate is harmless here).
func estimateBrokers(spec string) uint64 {
	var total uint64
	for _, item := range strings.Split(spec, ",") {
		n := uint64(1)
		for _, m := range rangeRE.FindAllStringSubmatch(item, -1) {
			a, errA := strconv.ParseUint(m[1], 10, 32)
			b, errB := strconv.ParseUint(m[2], 10, 32)
			if errA != nil || errB != nil {
				return maxBrokers + 1
			}
			if b >= a {
				n *= b - a + 1
			}
			if n > maxBrokers {
				return maxBrokers + 1
			}
		}
		total += n
		if total > maxBrokers {
			return maxBrokers + 1
		}
	}
	return total
}

// checkBrokerCount refuses endpoint strings that expand to too many brokers.
func checkBrokerCount(fn, spec string) error {
	if estimateBrokers(spec) > maxBrokers {
		return newErr(errConfig, "%s: %q expands to more than %d brokers: narrow its ranges", fn, redactList(spec), maxBrokers)
	}
	return nil
}
