# Fuzz targets of the engine's parsers, included by the root Makefile (or run alone:
# make -f mk/fuzz.mk fuzz).
#
#   fuzz   run each fuzz target of core/ for $(FUZZTIME) (default 5s; longer runs: make fuzz
#          FUZZTIME=5m), and the C ABI's (c-fuzz, $(C_FUZZTIME)):
#          FuzzParseConfig (configuration files), FuzzExpandURIs (broker URIs and ranges),
#          FuzzRedactURI (credentials kept out of output), FuzzTopics (topics, filters and
#          matching) and FuzzInboundGuard (every byte stream a broker may send). A failing
#          input is written to core/testdata/fuzz/<target>/ and then runs with every
#          `go test ./core`.
#
# `go test ./core` (part of make test) runs the seed corpora of the same targets and every
# failing input kept in core/testdata/fuzz without fuzzing; fuzzing itself is this target's.
GO ?= go
FUZZTIME ?= 5s
# New inputs that widen coverage are minimized; left at Go's 60s, minimizing a large one can
# take a whole FUZZTIME.
FUZZMINIMIZETIME ?= 2s
FUZZ_TARGETS ?= FuzzParseConfig FuzzExpandURIs FuzzRedactURI FuzzTopics FuzzInboundGuard

.PHONY: fuzz

fuzz: c-fuzz
	@for t in $(FUZZ_TARGETS); do \
	  echo "fuzz: $$t for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./core || exit 1; \
	done

