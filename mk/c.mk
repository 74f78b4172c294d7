# C API targets, included by the root Makefile (or run alone: make -f mk/c.mk c-test).
#
#   c-build  configure and build with CMake into $(C_BUILD_DIR): libhamqtt.so (go build
#            -buildmode=c-shared, version script, SONAME), its GOEXPERIMENT=cgocheck2 twin,
#            brokerctl, the C tests, the header and ABI checks, examples/c
#   c-test   c-build, then ctest: every C API test case against real Mosquitto brokers, the
#            exported-symbol and ABI-drift checks, the valgrind run, the cgocheck2 run, and
#            examples/c built against the installed package (find_package and pkg-config) and
#            run through broker kills; then c-go-test
#   c-go-test  the C ABI driven from pthreads under the race detector (its fuzz target's seed
#            corpus included)
#   c-fuzz   fuzzing through the C ABI for $(C_FUZZTIME) (make fuzz runs it)
#   c-clean  remove $(C_BUILD_DIR)
C_BUILD_DIR ?= build/c
C_CMAKE_FLAGS ?=
# Two at a time: the valgrind, cgocheck2 and timing-sensitive cases are RUN_SERIAL.
C_CTEST_FLAGS ?= --output-on-failure -j2
C_FUZZTIME ?= 10s
CMAKE ?= cmake
CTEST ?= ctest
GO ?= go

.PHONY: c-build c-test c-ctest c-go-test c-fuzz c-clean

c-build:
	@scripts/quietly.sh c-build sh -c '$(CMAKE) -S . -B $(C_BUILD_DIR) $(C_CMAKE_FLAGS) && $(CMAKE) --build $(C_BUILD_DIR) --parallel'

c-test: c-ctest c-go-test

c-ctest: c-build
	$(CTEST) --test-dir $(C_BUILD_DIR) $(C_CTEST_FLAGS)

c-go-test:
	$(GO) test -race -tags cabitest -count=1 ./capi

c-fuzz:
	$(GO) test -tags cabitest -run '^$$' -fuzz FuzzCABI -fuzztime $(C_FUZZTIME) ./capi

c-clean:
	rm -rf $(C_BUILD_DIR)
