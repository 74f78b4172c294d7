# hamqtt CLI targets, included by the root Makefile (or run alone: make -f mk/cli.mk cli-test).
#
#   cli-build  build the hamqtt command into $(CLI_BIN_DIR)/hamqtt
#   cli-test   vet, then the CLI tests with the race detector (real Mosquitto brokers; includes
#              "hamqtt demo --duration 10s", which must report 0 lost)
#   cli-clean  remove $(CLI_BIN_DIR)/hamqtt
#
# The demo itself is the root Makefile's `make demo` (go run ./cmd/hamqtt demo).
GO ?= go
CLI_BIN_DIR ?= bin
CLI_GOFLAGS ?=
CLI_TESTFLAGS ?= -race -count=1

.PHONY: cli-build cli-test cli-clean

cli-build:
	$(GO) build $(CLI_GOFLAGS) -o $(CLI_BIN_DIR)/hamqtt ./cmd/hamqtt

cli-test:
	$(GO) vet ./cmd/...
	$(GO) test $(CLI_TESTFLAGS) ./cmd/...

cli-clean:
	rm -f $(CLI_BIN_DIR)/hamqtt
