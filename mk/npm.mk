# The npm package users install with no Go and no C compiler, included by the root Makefile.
#
#   npm-pack       build/npm/hamqtt-<version>.tgz: the addon and libhamqtt.so.0 that node-install
#                  built, as prebuilds/<platform>-<arch>/ (bindings/node/scripts/pack.js). Its
#                  output goes to build/npm/npm-pack.log, printed only on failure.
#   npm-pack-test  installs that tarball into a scratch project with npm --offline and a PATH
#                  holding only node, npm and sh (no go, cc, gcc, c++, make), then a publish/
#                  subscribe round trip through it against a real Mosquitto broker
NPM_PACK_DIR ?= build/npm
NODE ?= node
NODE_PKG ?= bindings/node

.PHONY: npm-pack npm-pack-test

npm-pack: node-install
	@mkdir -p $(NPM_PACK_DIR)
	@log=$(abspath $(NPM_PACK_DIR))/npm-pack.log; \
	cd $(NODE_PKG) && $(NODE) scripts/pack.js --out $(abspath $(NPM_PACK_DIR)) >$$log 2>&1 \
	  && tail -n 1 $$log \
	  || { cat $$log; echo "npm-pack: failed (log: $(NPM_PACK_DIR)/npm-pack.log)"; exit 1; }

npm-pack-test: npm-pack
	@cd $(NODE_PKG) && HAMQTT_NPM_PACK_DIR=$(abspath $(NPM_PACK_DIR)) $(NODE) --test --test-reporter=spec test/pack/*.test.js

test: npm-pack-test
