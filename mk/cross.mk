# ARM builds for gateways, included by the root Makefile: Debian's cross compilers (cgo's CC),
# tested under qemu-user against a real Mosquitto broker.
#
#   cross        for each of $(CROSS_ARCHES) (linux/arm64, and linux/arm with GOARM=7, hard float),
#                into $(CROSS_DIR)/<arch>/ laid out as an installation prefix:
#                  lib/libhamqtt.so, lib/libhamqtt.so.0 -> it   go build -buildmode=c-shared with
#                                  the ldflags of CMakeLists.txt (stripped, version script, SONAME)
#                  bin/gateway, bin/epoll_loop   examples/c, RUNPATH $ORIGIN/../lib
#                and the hamqtt command, static (CGO_ENABLED=0), as bin/<arch>/hamqtt
#   cross-test   builds what it runs (the above), then tests/cross/gateway.sh for each arch:
#                the library's exports, SONAME and glibc needs; `hamqtt --version` and the
#                gateway under qemu-aarch64 / qemu-arm (-L /usr/<triple>) against a Mosquitto
#                broker, its readings relayed to a native subscriber, a command sent by the ARM
#                hamqtt, a clean exit on SIGTERM. Skipped, with one line, when the cross
#                compilers or qemu-user are missing (scripts/install-deps.sh installs them unless
#                HAMQTT_CROSS=0). Part of `make test`.
#   cross-footprint  cross, and a native x86-64 build made the same way ($(CROSS_DIR)/amd64),
#                then tests/cross/footprint.sh: file sizes and the example gateway's idle RSS
#                (native, and under qemu-user) as the markdown table of bench/RESULTS.md
#   cross-clean  remove $(CROSS_DIR) and bin/<arch>/
#
# The Go builds run one after the other (arch by arch), in the one Go build cache; their
# output goes to $(CROSS_DIR)/<arch>/build.log, printed only when a build fails.
GO ?= go
CROSS_ARCHES ?= arm64 arm
CROSS_DIR ?= build/cross
CROSS_BIN_DIR ?= bin
# The newest glibc symbol version the binaries may need (objdump -T). The README states it: a
# build needing more fails the test, so the documented minimum stays true.
CROSS_GLIBC_MAX ?= 2.34

cross_triple_arm64 := aarch64-linux-gnu
cross_triple_arm   := arm-linux-gnueabihf
cross_qemu_arm64   := qemu-aarch64
cross_qemu_arm     := qemu-arm
cross_goenv_arm64  := GOARCH=arm64
cross_goenv_arm    := GOARCH=arm GOARM=7

# libhamqtt.so's -ldflags, taken from CMakeLists.txt (HAMQTT_LDFLAGS, HAMQTT_SOVERSION) so that
# the ARM libraries are linked exactly as the native one.
cross_cmake_ldflags = $(shell sed -n 's/^set(HAMQTT_LDFLAGS "\(.*\)")$$/\1/p' CMakeLists.txt)
cross_soname = libhamqtt.so.$(shell sed -n 's/^set(HAMQTT_SOVERSION \([0-9][0-9]*\))$$/\1/p' CMakeLists.txt)
cross_ldflags = $(subst $${HAMQTT_SONAME},$(cross_soname),$(subst $${CMAKE_CURRENT_SOURCE_DIR},$(CURDIR),$(cross_cmake_ldflags)))

CROSS_CFLAGS ?= -std=c99 -O2 -Wall -Wextra -Werror -pedantic

.PHONY: cross cross-build cross-test cross-footprint cross-clean

# Shell: sets $t (triple), $q (emulator) and $goenv for arch $a.
cross_arch_vars = case $$a in \
	  arm64) t=$(cross_triple_arm64) q=$(cross_qemu_arm64) goenv="$(cross_goenv_arm64)";; \
	  arm) t=$(cross_triple_arm) q=$(cross_qemu_arm) goenv="$(cross_goenv_arm)";; \
	  *) echo "cross: unknown arch $$a (arm64, arm)"; exit 2;; esac
# Shell: $missing lists what is not installed of every arch's compiler and glibc (and, for
# cross_missing_test, emulator).
cross_missing = missing=""; for a in $(CROSS_ARCHES); do $(cross_arch_vars); \
	  command -v $$t-gcc >/dev/null || missing="$$missing $$t-gcc"; \
	  [ -f /usr/$$t/include/stdio.h ] || missing="$$missing /usr/$$t/include (libc6-dev-*-cross)"; done
cross_missing_test = $(cross_missing); for a in $(CROSS_ARCHES); do $(cross_arch_vars); \
	  command -v $$q >/dev/null || missing="$$missing $$q"; done

cross: cross-build

# Shell: the builds, one arch at a time: the library, the CLI, the examples (epoll_loop is
# one C file more; it must build warning-free for 32-bit ARM as well).
cross_build_sh = ldf="$(cross_ldflags)"; \
	if [ -z "$(cross_cmake_ldflags)" ] || [ "$(cross_soname)" = libhamqtt.so. ]; then \
	  echo "cross: HAMQTT_LDFLAGS or HAMQTT_SOVERSION not found in CMakeLists.txt (mk/cross.mk reads them there)"; exit 1; fi; \
	case "$$ldf" in *'$${'*) echo "cross: CMakeLists.txt's HAMQTT_LDFLAGS uses a variable mk/cross.mk does not substitute: $$ldf"; exit 1;; esac; \
	for a in $(CROSS_ARCHES); do $(cross_arch_vars); \
	  d=$(CROSS_DIR)/$$a; log=$$d/build.log; mkdir -p $$d/lib $$d/bin $(CROSS_BIN_DIR)/$$a; : >$$log; \
	  t0=$$(date +%s); \
	  ( set -x; \
	    env CGO_ENABLED=1 GOOS=linux $$goenv CC=$$t-gcc $(GO) build -buildmode=c-shared -trimpath "-ldflags=$$ldf" \
	      -o $$d/lib/libhamqtt.so ./capi && \
	    ln -sfn libhamqtt.so $$d/lib/$(cross_soname) && \
	    env CGO_ENABLED=0 GOOS=linux $$goenv $(GO) build -trimpath -ldflags='-s -w' -o $(CROSS_BIN_DIR)/$$a/hamqtt ./cmd/hamqtt && \
	    $$t-gcc $(CROSS_CFLAGS) -Iinclude -o $$d/bin/gateway examples/c/gateway.c -L$$d/lib -lhamqtt -lm \
	      -Wl,-rpath,'$$ORIGIN/../lib' && \
	    $$t-gcc $(CROSS_CFLAGS) -Iinclude -o $$d/bin/epoll_loop examples/c/epoll_loop.c -L$$d/lib -lhamqtt \
	      -Wl,-rpath,'$$ORIGIN/../lib' \
	  ) >>$$log 2>&1 || { cat $$log; echo "cross: the linux/$$a build failed (log: $$log)"; exit 1; }; \
	  echo "cross: linux/$$a built in $$(( $$(date +%s) - t0 ))s: $$d/lib/libhamqtt.so, $$d/bin/gateway, $$d/bin/epoll_loop, $(CROSS_BIN_DIR)/$$a/hamqtt"; \
	done

cross-build:
	@$(cross_missing); [ -z "$$missing" ] || { echo "cross: missing:$$missing (scripts/install-deps.sh installs them)"; exit 1; }; \
	$(cross_build_sh)

# The native helpers of the test: brokerctl (brokers on free loopback ports, as the C tests
# use) and the hamqtt command as the subscriber that sees what the broker relays.
CROSS_HOST_DIR := $(CROSS_DIR)/host

cross-test: deps
	@$(cross_missing_test); if [ -n "$$missing" ]; then \
	  echo "cross-test: skipped: missing$$missing (scripts/install-deps.sh installs them unless HAMQTT_CROSS=0)"; exit 0; fi; \
	start=$$(date +%s); \
	$(cross_build_sh); \
	mkdir -p $(CROSS_HOST_DIR); log=$(CROSS_HOST_DIR)/build.log; \
	{ $(GO) build -trimpath -o $(CROSS_HOST_DIR)/brokerctl ./internal/cmd/brokerctl && \
	  $(GO) build -o $(CROSS_HOST_DIR)/hamqtt ./cmd/hamqtt; } >$$log 2>&1 \
	  || { cat $$log; echo "cross-test: the native helpers (brokerctl, hamqtt) did not build"; exit 1; }; \
	echo "cross-test: everything built in $$(( $$(date +%s) - start ))s"; \
	pass=0; fail=0; \
	for a in $(CROSS_ARCHES); do $(cross_arch_vars); \
	  if tests/cross/gateway.sh $$a $(CROSS_DIR)/$$a $(CROSS_BIN_DIR)/$$a/hamqtt "$$q -L /usr/$$t" \
	       $(CROSS_GLIBC_MAX) $(CROSS_HOST_DIR)/brokerctl $(CROSS_HOST_DIR)/hamqtt; \
	  then pass=$$((pass + 1)); else fail=$$((fail + 1)); fi; \
	done; \
	echo "cross-test: $$pass passed, $$fail failed ($$(( $$(date +%s) - start ))s)"; \
	[ $$fail -eq 0 ]

cross-footprint: cross-build
	@d=$(CROSS_DIR)/amd64; mkdir -p $$d/lib $$d/bin $(CROSS_HOST_DIR); log=$$d/build.log; \
	( set -x; \
	  env CGO_ENABLED=1 GOARCH=amd64 $(GO) build -buildmode=c-shared -trimpath "-ldflags=$(cross_ldflags)" -o $$d/lib/libhamqtt.so ./capi && \
	  ln -sfn libhamqtt.so $$d/lib/$(cross_soname) && \
	  env CGO_ENABLED=0 GOARCH=amd64 $(GO) build -trimpath -ldflags='-s -w' -o $$d/bin/hamqtt ./cmd/hamqtt && \
	  $(CC) $(CROSS_CFLAGS) -Iinclude -o $$d/bin/gateway examples/c/gateway.c -L$$d/lib -lhamqtt -lm -Wl,-rpath,'$$ORIGIN/../lib' && \
	  $(GO) build -trimpath -o $(CROSS_HOST_DIR)/brokerctl ./internal/cmd/brokerctl \
	) >$$log 2>&1 || { cat $$log; echo "cross-footprint: the native build failed"; exit 1; }
	@tests/cross/footprint.sh $(CROSS_HOST_DIR)/brokerctl amd64:$(CROSS_DIR)/amd64:$(CROSS_DIR)/amd64/bin/hamqtt \
	  $(foreach a,$(CROSS_ARCHES),"$(a):$(CROSS_DIR)/$(a):$(CROSS_BIN_DIR)/$(a)/hamqtt:$(cross_qemu_$(a)) -L /usr/$(cross_triple_$(a))")

cross-clean:
	rm -rf $(CROSS_DIR) $(foreach a,$(CROSS_ARCHES),$(CROSS_BIN_DIR)/$(a))

test: cross-test
