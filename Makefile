# hamqtt: the front door. `make demo` shows a virtual cluster surviving broker kills;
# `make test` runs every test suite against real Mosquitto brokers.
GO        ?= go
GOFLAGS   ?=
export GOFLAGS

.PHONY: all build deps test test-go demo brokers clean vet

all: build

deps:
	./scripts/install-deps.sh

build:
	$(GO) build ./...
	$(MAKE) c-build

vet:
	$(GO) vet ./...

# Go tests run with the race detector; every package checks for leaked goroutines. The engine's
# package runs alone first: its tests hold the product to time bounds (subscriptions back on a
# revived broker within 0.5 s), which the other packages' broker farms (RabbitMQ, churn
# processes) would only blur on a 2-core machine.
test-go: deps
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 15m ./core
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
