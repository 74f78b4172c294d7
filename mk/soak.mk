# Churn soak, included by the root Makefile: many seeded churn trials (internal/cmd/churn) per
# API and configuration, against real Mosquitto brokers that are SIGKILLed and restarted while
# QoS 1 messages flow, then one table of all of them.
#
#   soak         soak-go, soak-c, soak-python and soak-node (those of $(SOAK_APIS)) with one
#                seed, then the table; fails when a trial failed (an acknowledged message lost,
#                a client that misbehaved) or a client could not be built
#   soak-go      the Go client (internal/cmd/churnclient: PublishAsync)
#   soak-go-sync the Go client publishing with the blocking Publish (not in the default list)
#   soak-c       the C client (tests/c/churn_client.c, built with CMake into $(SOAK_C_BUILD_DIR))
#   soak-python  bindings/python/tests/churn_client.py in the venv of py-install, when present
#   soak-node    bindings/node/test/churn_client.js with the addon of node-install, when present
#
# Knobs: SOAK_TRIALS (10 per API, config and schedule; seeds SOAK_SEED, SOAK_SEED+1, ...),
# SOAK_SEED (random when empty; printed, and any trial replays with -seed), SOAK_CONFIGS
# (default,noloss; also roundrobin, and outbox: a disk outbox, for the clients that have one),
# SOAK_SCHEDULES (churn; also outage, crash: the outage with the publisher SIGKILLed and
# restarted in its middle, double, none), SOAK_COUNT and SOAK_RATE (1500 messages at 100/s),
# SOAK_FLAGS (more churn flags: -max-dup 0, -check-order, -outage 20s).
# Results: $(SOAK_OUT)/results.jsonl (churn -report prints its table), logs in $(SOAK_OUT)/logs.
GO    ?= go
CMAKE ?= cmake
SOAK_TRIALS    ?= 10
SOAK_SEED      ?=
SOAK_CONFIGS   ?= default,noloss
SOAK_SCHEDULES ?= churn
SOAK_COUNT     ?= 1500
SOAK_RATE      ?= 100
SOAK_APIS      ?= go c python node
SOAK_FLAGS     ?=
SOAK_OUT       ?= build/soak
SOAK_BIN       := $(SOAK_OUT)/bin
SOAK_RESULTS   := $(SOAK_OUT)/results.jsonl
SOAK_C_BUILD_DIR ?= $(or $(C_BUILD_DIR),build/c)
SOAK_PYTHON       = $(or $(PY_VENV),build/py-venv)/bin/python
SOAK_PY_CLIENT   := bindings/python/tests/churn_client.py
SOAK_NODE_CLIENT := bindings/node/test/churn_client.js
SOAK_CLIENT_ARGS := --brokers {brokers} --topic {topic} --count {count} --rate {rate} --config {config} \
	--outbox {outbox} --start {start}

SOAK_CHURN = $(SOAK_BIN)/churn -trials $(SOAK_TRIALS) $(if $(SOAK_SEED),-seed $(SOAK_SEED)) \
	-count $(SOAK_COUNT) -rate $(SOAK_RATE) -config $(SOAK_CONFIGS) -schedule $(SOAK_SCHEDULES) \
	-json $(SOAK_RESULTS) -logdir $(SOAK_OUT)/logs $(SOAK_FLAGS)

.PHONY: soak soak-build soak-go soak-go-sync soak-c soak-python soak-node

soak-build: deps
	$(GO) build -o $(SOAK_BIN)/churn ./internal/cmd/churn
	$(GO) build -o $(SOAK_BIN)/churnclient ./internal/cmd/churnclient

soak: soak-build
	@rm -rf $(SOAK_RESULTS) $(SOAK_OUT)/logs
	@seed="$(SOAK_SEED)"; [ -n "$$seed" ] || seed=$$(od -An -N4 -tu4 /dev/urandom | tr -d ' '); \
	fail=""; \
	for api in $(SOAK_APIS); do \
	  echo "soak: $$api, seed $$seed"; \
	  $(MAKE) --no-print-directory soak-$$api SOAK_SEED=$$seed || fail="$$fail $$api"; \
	done; \
	echo; echo "soak: $(SOAK_TRIALS) trials per API, config and schedule from seed $$seed"; \
	if [ -s $(SOAK_RESULTS) ]; then $(SOAK_BIN)/churn -report $(SOAK_RESULTS) >$(SOAK_OUT)/report.txt; \
	  cat $(SOAK_OUT)/report.txt; fi; \
	if [ -n "$$fail" ]; then echo "soak: failed:$$fail (logs in $(SOAK_OUT)/logs)"; exit 1; fi; \
	echo "soak: ok"

soak-go: soak-build
	$(SOAK_CHURN) -label go -client $(SOAK_BIN)/churnclient

soak-go-sync: soak-build
	$(SOAK_CHURN) -label go-sync -pub "$(SOAK_BIN)/churnclient pub --sync $(SOAK_CLIENT_ARGS)" \
	  -sub "$(SOAK_BIN)/churnclient sub $(SOAK_CLIENT_ARGS)"

soak-c: soak-build
	$(CMAKE) -S . -B $(SOAK_C_BUILD_DIR) $(C_CMAKE_FLAGS) >/dev/null
	$(CMAKE) --build $(SOAK_C_BUILD_DIR) --target churn_client
	$(SOAK_CHURN) -label c -client $(SOAK_C_BUILD_DIR)/tests/c/churn_client

soak-python: soak-build
	@if [ ! -f $(SOAK_PY_CLIENT) ]; then echo "soak: python skipped: no $(SOAK_PY_CLIENT)"; exit 0; fi; \
	$(MAKE) --no-print-directory py-install && \
	$(SOAK_CHURN) -label python -client "$(SOAK_PYTHON) $(SOAK_PY_CLIENT)"

soak-node: soak-build
	@if [ ! -f $(SOAK_NODE_CLIENT) ]; then echo "soak: node skipped: no $(SOAK_NODE_CLIENT)"; exit 0; fi; \
	$(MAKE) --no-print-directory node-install && \
	$(SOAK_CHURN) -label node -client "node $(SOAK_NODE_CLIENT)"
