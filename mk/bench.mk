# Benchmarks side by side with the peers (issue 8), included by the root Makefile.
#
#   bench        builds what it needs, runs every section against fresh Mosquitto brokers,
#                writes bench/RESULTS.md and prints it (about 12 minutes on 2 cores)
#   bench-smoke  the same with tiny counts and one repetition (seconds): checks that every
#                benchmark still works (MQTT 3.1.1 and 5, QoS 0 and 1); no timing is asserted. Part of `make test`. Its
#                report goes to $(BENCH_SMOKE_OUT)/RESULTS.md, never to bench/RESULTS.md.
#   bench-deps   installs the Debian packages the C peers need (libmosquitto-dev,
#                libpaho-mqtt-dev) if they are missing
#   bench-build  bench-deps, then the Go bench (build/bench/gobench), the C bench programs
#                (bench/c -> build/bench) and libhamqtt.so (CMake target hamqtt_go in
#                $(BENCH_CMAKE_DIR), the same build the C package ships)
#   bench-clean  removes build/bench and bench/out
#   bench-storage  the outbox's storage (segment log, each sync policy) against bbolt on the
#                same workload (bench/storage, a module of its own so that the engine never
#                depends on bbolt); prints a table (several minutes). Not part of `make test`
#                nor of `make bench`; docs/engine.md "Outbox storage" holds its figures.
#                BENCH_STORAGE_FLAGS passes flags (-quick, -reps N, -run REGEXP, -n64, -n16k).
#
# Sections: go (core vs paho.mqtt.golang, and core over MQTT 5), c (hamqtt C API vs libmosquitto,
# Paho C and paho.mqtt.golang; and the C API over MQTT 5 vs libmosquitto and Paho C over MQTT 5),
# python and node (the bindings' own bench scripts, when present: QoS 0 at each size and QoS 1 at
# the first, each cell over MQTT 3.1.1 and over MQTT 5 for both libraries), failover
# (stall after SIGKILL and blackhole), footprint (idle RSS, load time, library size), outbox
# (the disk outbox through the C API vs Paho C's MQTTAsync with its file persistence: durable
# QoS 1 throughput per sync policy, flush after an outage; bench/c/outbox_*.c). A section
# that cannot run (say the C API does not build) is reported as missing in RESULTS.md; `bench`
# goes on with the others, `bench-smoke` fails.
GO              ?= go
CMAKE           ?= cmake
BENCH_BIN       ?= build/bench
BENCH_OUT       ?= bench/out
BENCH_SMOKE_OUT ?= build/bench/smoke
BENCH_RESULTS   ?= bench/RESULTS.md
BENCH_REPS      ?= 5
BENCH_KILLS     ?= 20
BENCH_CMAKE_DIR ?= build/bench/cmake
BENCH_LIBDIR    := $(BENCH_CMAKE_DIR)/lib
BENCH_PYTHON     = $(or $(PY_VENV),build/py-venv)/bin/python
BENCH_PY_SCRIPT := bindings/python/bench/bench_qos0.py
BENCH_NODE_DIR  := bindings/node
BENCH_NODE_SCRIPT := $(BENCH_NODE_DIR)/bench/bench_qos0.js
GOBENCH         := $(BENCH_BIN)/gobench
BENCH_NODE_PATH := $(BENCH_BIN)/node_path
# Messages per run of the bindings' scripts (driven through their single-run modes,
# bench_qos0.py --run and bench_qos0.js --child): QoS 0, and the QoS 1 cell (at the first
# payload size; 0 leaves it out); and the payload sizes.
BENCH_PY_N      ?= 30000
BENCH_PY_QOS1_N ?= 6000
BENCH_NODE_N    ?= 40000
BENCH_NODE_QOS1_N ?= 15000
BENCH_SCRIPT_SIZES ?= 64,1024

BENCH_STORAGE_FLAGS ?=

.PHONY: bench bench-smoke bench-deps bench-build bench-lib bench-clean bench-py-prep bench-node-prep bench-storage

bench-deps:
	@missing=""; \
	for p in libmosquitto-dev libpaho-mqtt-dev mosquitto cmake gcc make; do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	  echo "bench-deps: installing$$missing"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# libhamqtt.so through the project's CMake (only the library target, in a build directory of
# its own so that it never races `make c-build`). Failure is reported, not fatal: the C rows
# are then marked missing.
bench-lib:
	@( $(CMAKE) -S . -B $(BENCH_CMAKE_DIR) -DHAMQTT_BUILD_TESTS=OFF -DHAMQTT_BUILD_EXAMPLES=OFF >/dev/null && \
	   $(CMAKE) --build $(BENCH_CMAKE_DIR) --target hamqtt_go ) \
	 || echo "bench-lib: libhamqtt.so did not build; the hamqtt C API rows will be missing"
	@[ ! -e $(BENCH_LIBDIR)/libhamqtt.so ] || \
	  $(MAKE) --no-print-directory -C bench/c $(abspath $(BENCH_BIN))/bench_hamqtt OUT=$(abspath $(BENCH_BIN)) \
	    HAMQTT_INC=$(abspath include) HAMQTT_LIBDIR=$(abspath $(BENCH_LIBDIR)) \
	 || echo "bench-lib: bench_hamqtt did not build; the hamqtt C API rows will be missing"
	@[ ! -e $(BENCH_LIBDIR)/libhamqtt.so ] || \
	  $(MAKE) --no-print-directory -C bench/c $(abspath $(BENCH_BIN))/outbox_hamqtt OUT=$(abspath $(BENCH_BIN)) \
	    HAMQTT_INC=$(abspath include) HAMQTT_LIBDIR=$(abspath $(BENCH_LIBDIR)) \
	 || echo "bench-lib: outbox_hamqtt did not build; the outbox section measures hamqtt's side through the Go API"

bench-build: bench-deps
	$(GO) build -o $(GOBENCH) ./bench/gobench
	$(MAKE) --no-print-directory -C bench/c peers OUT=$(abspath $(BENCH_BIN))
	@rm -f $(BENCH_BIN)/bench_hamqtt $(BENCH_BIN)/outbox_hamqtt
	@$(MAKE) --no-print-directory bench-lib

# The bindings' bench scripts need their packages installed: py-install (mk/python.mk) makes
# the venv with paho-mqtt and hamqtt; the Node addon is built by mk/node.mk's node-build (or
# node-install) target when there is one, and MQTT.js is the package's devDependency. Both are
# optional here: without them the section is reported missing. require('hamqtt') and
# require('mqtt') resolve through $(BENCH_NODE_PATH). Both bindings run against the
# libhamqtt.so built here (HAMQTT_LIBRARY for Python; LD_LIBRARY_PATH, which the addon's
# RUNPATH lets through, for Node), so every section measures the same engine.
bench-py-prep:
	@if [ -f $(BENCH_PY_SCRIPT) ] && grep -q '^py-install:' mk/python.mk 2>/dev/null; then \
	  $(MAKE) --no-print-directory py-install || echo "bench: py-install failed; the Python rows will be missing"; fi

bench-node-prep:
	@if [ -f $(BENCH_NODE_SCRIPT) ] && command -v node >/dev/null; then \
	  t=$$(sed -n 's/^\(node-build\|node-install\):.*/\1/p' mk/node.mk 2>/dev/null | head -1); \
	  [ -z "$$t" ] || $(MAKE) --no-print-directory $$t || echo "bench: $$t failed; the Node rows will be missing"; \
	  [ -d $(BENCH_NODE_DIR)/node_modules/mqtt ] || (cd $(BENCH_NODE_DIR) && npm install --no-audit --no-fund) \
	    || echo "bench: npm install failed; the Node rows will be missing"; \
	  mkdir -p $(BENCH_NODE_PATH) && ln -sfn $(abspath $(BENCH_NODE_DIR)) $(BENCH_NODE_PATH)/hamqtt && \
	  ln -sfn $(abspath $(BENCH_NODE_DIR))/node_modules/mqtt $(BENCH_NODE_PATH)/mqtt; fi

# bench_sections(out dir, gobench flags, command run with the failed section's name).
define bench_sections
	rm -f $(1)/*.json
	$(GOBENCH) go -out $(1) $(2) || $(3) go
	$(GOBENCH) c -out $(1) -bin $(BENCH_BIN) -lib $(BENCH_LIBDIR) -self $(abspath $(GOBENCH)) $(2) || $(3) c
	@if [ -f $(BENCH_PY_SCRIPT) ] && [ -x $(BENCH_PYTHON) ] && [ -e $(BENCH_LIBDIR)/libhamqtt.so ]; then set -x; \
	  $(GOBENCH) script -out $(1) -name python -title "Python: hamqtt.client vs paho-mqtt, MQTT 3.1.1 and 5 ($(BENCH_PY_SCRIPT), the same program with the import swapped)" \
	    -target 2 -n $(BENCH_PY_N) -qos1-n $(BENCH_PY_QOS1_N) -sizes $(BENCH_SCRIPT_SIZES) $(2) -env HAMQTT_LIBRARY=$(abspath $(BENCH_LIBDIR))/libhamqtt.so \
	    -impl "hamqtt.client=$(abspath $(BENCH_PYTHON)) $(abspath $(BENCH_PY_SCRIPT)) --run hamqtt.client --port {port} --count {n} --size {size} --qos {qos}" \
	    -impl "paho-mqtt=$(abspath $(BENCH_PYTHON)) $(abspath $(BENCH_PY_SCRIPT)) --run paho.mqtt.client --port {port} --count {n} --size {size} --qos {qos}" \
	    -impl5 "hamqtt.client (MQTT 5)=$(abspath $(BENCH_PYTHON)) $(abspath $(BENCH_PY_SCRIPT)) --run hamqtt.client --port {port} --count {n} --size {size} --qos {qos} --protocol 5" \
	    -impl5 "paho-mqtt (MQTT 5)=$(abspath $(BENCH_PYTHON)) $(abspath $(BENCH_PY_SCRIPT)) --run paho.mqtt.client --port {port} --count {n} --size {size} --qos {qos} --protocol 5" \
	  || $(3) python; \
	else echo "bench: Python section skipped: $(BENCH_PY_SCRIPT), $(BENCH_PYTHON) or libhamqtt.so missing"; fi
	@if [ -f $(BENCH_NODE_SCRIPT) ] && [ -d $(BENCH_NODE_PATH) ] && [ -e $(BENCH_LIBDIR)/libhamqtt.so ] && command -v node >/dev/null; then set -x; \
	  $(GOBENCH) script -out $(1) -name node -title "Node: hamqtt vs MQTT.js, MQTT 3.1.1 and 5 ($(BENCH_NODE_SCRIPT), the same program with the require swapped)" \
	    -target 1 -n $(BENCH_NODE_N) -qos1-n $(BENCH_NODE_QOS1_N) -sizes $(BENCH_SCRIPT_SIZES) $(2) -dir $(BENCH_NODE_DIR) -env NODE_PATH=$(abspath $(BENCH_NODE_PATH)) \
	    -env LD_LIBRARY_PATH=$(abspath $(BENCH_LIBDIR)) \
	    -impl "hamqtt=node bench/bench_qos0.js --child hamqtt mqtt://{host}:{port} {n} {size} {qos} 4" \
	    -impl "MQTT.js=node bench/bench_qos0.js --child mqtt mqtt://{host}:{port} {n} {size} {qos} 4" \
	    -impl5 "hamqtt (MQTT 5)=node bench/bench_qos0.js --child hamqtt mqtt://{host}:{port} {n} {size} {qos} 5" \
	    -impl5 "MQTT.js (MQTT 5)=node bench/bench_qos0.js --child mqtt mqtt://{host}:{port} {n} {size} {qos} 5" \
	  || $(3) node; \
	else echo "bench: Node section skipped: $(BENCH_NODE_SCRIPT), $(BENCH_NODE_PATH), libhamqtt.so or node missing"; fi
	$(GOBENCH) failover -out $(1) -kills $(BENCH_KILLS) $(2) || $(3) failover
	$(GOBENCH) footprint -out $(1) -bin $(BENCH_BIN) -lib $(BENCH_LIBDIR) $(2) || $(3) footprint
	$(GOBENCH) outbox -out $(1) -bin $(BENCH_BIN) -lib $(BENCH_LIBDIR) -self $(abspath $(GOBENCH)) $(2) || $(3) outbox
endef

bench: bench-build bench-py-prep bench-node-prep
	@mkdir -p $(BENCH_OUT)
	$(call bench_sections,$(BENCH_OUT),-reps $(BENCH_REPS),sh -c 'echo "bench: section $$0 failed; going on with the others"')
	$(GOBENCH) report -out $(BENCH_OUT) -results $(BENCH_RESULTS) -python $(BENCH_PYTHON) -node-dir $(BENCH_NODE_DIR)

bench-smoke: bench-build bench-py-prep bench-node-prep
	@mkdir -p $(BENCH_SMOKE_OUT)
	$(call bench_sections,$(BENCH_SMOKE_OUT),-smoke,sh -c 'echo "bench-smoke: section $$0 failed"; exit 1')
	$(GOBENCH) report -smoke -out $(BENCH_SMOKE_OUT) -results $(BENCH_SMOKE_OUT)/RESULTS.md -python $(BENCH_PYTHON) -node-dir $(BENCH_NODE_DIR) >/dev/null
	@echo "bench-smoke: ok ($(BENCH_SMOKE_OUT)/RESULTS.md)"

bench-clean:
	rm -rf $(BENCH_BIN) $(BENCH_OUT)

bench-storage:
	cd bench/storage && $(GO) run . $(BENCH_STORAGE_FLAGS)

test: bench-smoke
