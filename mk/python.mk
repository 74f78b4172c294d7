# Python package targets (bindings/python), included by the root Makefile.
#
#   py-install  create the venv $(PY_VENV) and install into it: pytest, pytest-timeout,
#               paho-mqtt (for the benchmark and side-by-side tests) and the hamqtt package
#               itself from ./bindings/python (its build compiles libhamqtt.so with go build)
#   py-test     py-install, then the pytest suite against real Mosquitto brokers, and its
#               version-independent part again over MQTT 5
#   py-bench    the QoS 0 benchmark: paho-mqtt and hamqtt.client side by side
#   py-clean    remove the venv and the package's build directories
PYTHON     ?= python3
PY_VENV    ?= build/py-venv
PY_PYTEST_FLAGS ?= -q
PY_BIN     := $(PY_VENV)/bin

.PHONY: py-install py-test py-bench py-clean

# The package is installed again (compiling libhamqtt.so) only when what it is built from
# changed: the benchmarks' recursive make asks for py-install too.
PY_INSTALL_STAMP := $(PY_VENV)/.hamqtt-installed
PY_INSTALL_INPUTS := $(shell find bindings/python/src bindings/python/setup.py bindings/python/pyproject.toml \
  capi core include go.mod go.sum -type f -not -name '*_test.go' -not -path '*/__pycache__/*' 2>/dev/null)

py-install: deps $(PY_INSTALL_STAMP)

$(PY_INSTALL_STAMP): $(PY_INSTALL_INPUTS)
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { \
	  echo "py-install: installing python3-venv"; \
	  SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq python3-venv >/dev/null; }
	@[ -x $(PY_BIN)/python ] || $(PYTHON) -m venv $(PY_VENV)
	@scripts/quietly.sh py-install sh -c '$(PY_BIN)/python -m pip install -q --disable-pip-version-check pytest pytest-timeout paho-mqtt && \
	  $(PY_BIN)/python -m pip install -q --disable-pip-version-check --force-reinstall --no-deps ./bindings/python'
	@touch $@

# The tests whose behaviour must not depend on the MQTT version run once more over MQTT 5
# (HAMQTT_TEST_PROTOCOL=5, read by tests/protocol.py; about 20 s).
PY_TESTS_BOTH_PROTOCOLS := tests/test_client.py tests/test_failover.py tests/test_order.py \
  tests/test_event_loop.py tests/test_native.py

py-test: py-install
	cd bindings/python && $(abspath $(PY_BIN))/python -m pytest $(PY_PYTEST_FLAGS) tests
	cd bindings/python && HAMQTT_TEST_PROTOCOL=5 $(abspath $(PY_BIN))/python -m pytest $(PY_PYTEST_FLAGS) \
	  $(PY_TESTS_BOTH_PROTOCOLS)

py-bench: py-install
	$(PY_BIN)/python bindings/python/bench/bench_qos0.py

py-clean:
	rm -rf $(PY_VENV) bindings/python/build bindings/python/src/hamqtt.egg-info

test: py-test
