'use strict'
// The MQTT version the suites' clients speak: HAMQTT_TEST_PROTOCOL=5 runs the cases whose
// behaviour must be the same under both versions over MQTT 5 (`make node-test` runs those files
// once more so); unset, MQTT 3.1.1 as MQTT.js's default. A case that sets protocolVersion keeps it.
const hamqtt = require('../..')

const protocolVersion = process.env.HAMQTT_TEST_PROTOCOL === '5' ? 5 : 4

// connect(url), connect(url, options), connect(options): the options with the suite's version.
function withVersion (args) {
  if (protocolVersion !== 5) return args
  const at = typeof args[0] === 'object' && args[0] !== null ? 0 : 1
  const o = args[at]
  if (o !== undefined && (o === null || typeof o !== 'object')) return args // a wrong argument, as given
  const out = args.slice()
  out[at] = { protocolVersion, ...o }
  return out
}

// hamqtt with connect and connectAsync giving the suite's version.
const mqtt = Object.create(hamqtt, {
  connect: { value: (...args) => hamqtt.connect(...withVersion(args)) },
  connectAsync: { value: (...args) => hamqtt.connectAsync(...withVersion(args)) }
})

// A subscribe's granted list without what MQTT 5 adds to each entry (nl, rap, rh, properties,
// as MQTT.js 5 gives them back), so that one expectation holds under both versions.
function grants (granted) {
  if (protocolVersion !== 5) return granted
  return granted.map(({ nl, rap, rh, properties, ...rest }) => rest)
}

// Mosquitto's log names the protocol of a client: p2 for MQTT 3.1.1, p5 for MQTT 5.
const mosquittoProtocol = protocolVersion === 5 ? 'p5' : 'p2'

module.exports = { mqtt, protocolVersion, withVersion, grants, mosquittoProtocol }
