# Node.js binding targets, included by the root Makefile (or run alone: make -f mk/node.mk node-test).
#
#   node-install  npm install in bindings/node: its install script builds libhamqtt.so.0 with
#                 `go build -buildmode=c-shared` into bindings/node/native/ and the addon with
#                 node-gyp against the Node headers installed here (--nodedir, nothing downloaded);
#                 npm also fetches the devDependency MQTT.js (for the comparison tests and the
#                 benchmark). No lockfile is written (bindings/node/.npmrc).
#   node-test     node-install, then the node --test suite against real Mosquitto brokers, and
#                 the files listed in NODE_TEST_V5 again over MQTT 5
#   node-bench    QoS 0 publish-to-receive throughput, hamqtt against MQTT.js in the same run
#   node-pack     the same as npm-pack (mk/npm.mk): a tarball with the addon and library prebuilt
#   node-clean    remove the addon build, the library copy and node_modules
NPM ?= npm
NODE ?= node
NODE_PKG ?= bindings/node
NODE_TESTFLAGS ?= --test-concurrency=1

.PHONY: node-install node-test node-bench node-pack node-clean

# npm install runs again only when what it builds from changed (the benchmarks' recursive make
# asks for node-install too).
NODE_INSTALL_STAMP := $(NODE_PKG)/build/.hamqtt-installed
NODE_INSTALL_INPUTS := $(wildcard $(NODE_PKG)/package.json $(NODE_PKG)/binding.gyp $(NODE_PKG)/src/* \
  $(NODE_PKG)/scripts/*.js capi/*.go capi/*.c capi/*.h capi/hamqtt.map core/*.go include/hamqtt.h go.mod go.sum)

node-install: deps $(NODE_INSTALL_STAMP)

$(NODE_INSTALL_STAMP): $(NODE_INSTALL_INPUTS)
	@scripts/quietly.sh node-install sh -c 'cd $(NODE_PKG) && $(NPM) install --no-audit --no-fund'
	@mkdir -p $(dir $@) && touch $@

# The files whose cases must behave the same under both MQTT versions run a second time over MQTT
# 5 (HAMQTT_TEST_PROTOCOL=5, read by test/helpers/protocol.js).
NODE_TEST_V5 ?= test/client.test.js test/publish.test.js test/order.test.js test/failover.test.js test/outbox.test.js

node-test: node-install
	cd $(NODE_PKG) && $(NODE) --test $(NODE_TESTFLAGS) test/*.test.js
	cd $(NODE_PKG) && HAMQTT_TEST_PROTOCOL=5 $(NODE) --test $(NODE_TESTFLAGS) $(NODE_TEST_V5)

node-bench: node-install
	cd $(NODE_PKG) && $(NODE) bench/bench_qos0.js

node-pack: npm-pack

node-clean:
	rm -rf $(NODE_PKG)/build $(NODE_PKG)/native $(NODE_PKG)/node_modules $(NODE_PKG)/bench/node_path

# `make test` runs the Node suite too.
test: node-test
