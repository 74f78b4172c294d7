# hamqtt: the front door. `make demo` shows a virtual cluster surviving broker kills;
# `make test` runs every test suite against real Mosquitto brokers.
GO        ?= go
GOFLAGS   ?=
export GOFLAGS

.PHONY: all build install deps test test-go demo brokers clean vet

all: build

deps:
	./scripts/install-deps.sh

# Every artifact: the Go packages, libhamqtt.so with its C tests and examples (build/c), the
# hamqtt command (bin/hamqtt), the Python wheel (build/wheel) and the npm tarball (build/npm).
build:
	$(GO) build ./...
	$(MAKE) c-build cli-build wheel npm-pack

# The library, its header, CMake package and pkg-config file, and the hamqtt command, under
# $(PREFIX) (lib/, include/, lib/cmake/hamqtt, lib/pkgconfig, bin/).
PREFIX ?= /usr/local
install:
	$(MAKE) c-build cli-build
	$(CMAKE) --install $(C_BUILD_DIR) --prefix $(PREFIX)
	install -d $(PREFIX)/bin
	install -m 755 bin/hamqtt $(PREFIX)/bin/hamqtt

vet:
	$(GO) vet ./...

# The engine tests whose promises must not depend on the MQTT version, run again over MQTT 5
# (HAMQTT_TEST_PROTOCOL=5 runs all of them; the MQTT 5 tests themselves run in the first pass).
CORE_V5_TESTS := TestPublisherPolicies|TestAsyncStreamSurvivesABrokerKill|TestStickyStreamKeepsOrderAcrossFailovers|TestAckQuorum|TestTotalOutageWaitsForWarmUp|TestWarmUpKeepsRevivedBrokerOutOfFailover|TestMixedQoS|TestRevivalReplaysSubscriptions|TestFoSLevels|TestOutboxCarriesATotalOutage|TestDiskOutboxResumesAfterRestart|TestSilentPartition|TestRefusedMessageFailsAlone|TestArchetype|TestOutboxQoS0StoredOnlyWhenItWouldWait

# Go tests run with the race detector; every package checks for leaked goroutines. The engine's
# package runs alone first: its tests hold the product to time bounds (subscriptions back on a
# revived broker within 0.5 s), which the other packages' broker farms (RabbitMQ, churn
# processes) would only blur on a 2-core machine.
test-go: deps
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 15m ./core
	HAMQTT_TEST_PROTOCOL=5 $(GO) test -race -count=1 -timeout 10m -run '$(CORE_V5_TESTS)' ./core
	$(GO) test -race -count=1 -timeout 15m $$($(GO) list ./... | grep -v '/core$$')

# Every suite: Go (engine, CLI with the 10s demo, C ABI from pthreads), then the C library.
test: test-go c-test

demo: deps
	$(GO) run ./cmd/hamqtt demo

# Three Mosquitto brokers on 127.0.0.1:1883-1885 until Ctrl-C: what the README's examples, the
# built-in default cluster and examples/c/gateway.yaml connect to.
brokers: deps
	$(GO) run ./cmd/hamqtt brokers

clean:
	rm -rf build bin

# Language-specific parts (the C library, the CLI, the bindings, benchmarks) add their targets
# and hook into `test` here.
-include mk/*.mk
