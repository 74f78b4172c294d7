'use strict'
// Bad arguments throw TypeError or RangeError with clear text; what cannot be offered raises an
// error that names it. No broker is needed for most of these: the checks run before any I/O.
const test = require('node:test')
const assert = require('node:assert/strict')
const mqtt = require('..')
const { startBroker } = require('./helpers/mosquitto')

const ERR = (type, re) => (err) => {
  assert.ok(err instanceof type, `expected ${type.name}, got ${err && err.constructor.name}: ${err && err.message}`)
  assert.match(err.message, re)
  return true
}

test('connect: bad URLs and options', () => {
  assert.throws(() => mqtt.connect(42), ERR(TypeError, /broker URL must be a string, got number 42/))
  assert.throws(() => mqtt.connect('foo://127.0.0.1'), ERR(TypeError, /unknown protocol "foo"/))
  assert.throws(() => mqtt.connect('wxs://127.0.0.1'), /protocol "wxs" .* is not supported/)
  assert.throws(() => mqtt.connect('mqtt+unix:///tmp/sock'), /Unix domain sockets\) is not supported/)
  assert.throws(() => mqtt.connect('mqtt://127.0.0.1:99999'), (e) => e.code === 'HAMQTT_ERR_CONFIG' && /99999/.test(e.message))
  assert.throws(() => mqtt.connect('mqtt://10.0.0.5-3:1883'), (e) => e.code === 'HAMQTT_ERR_CONFIG' && /range/.test(e.message))
  assert.throws(() => mqtt.connect('mqtt://127.0.0.1', 'opts'), ERR(TypeError, /options must be an object, got string/))
  assert.throws(() => mqtt.connect('mqtt://127.0.0.1', { clientid: 'x' }), ERR(TypeError, /unknown option clientid/))
  assert.throws(() => mqtt.connect('mqtt://127.0.0.1', { keepalive: 'x' }), ERR(TypeError, /option keepalive must be an integer/))
  assert.throws(() => mqtt.connect('mqtt://127.0.0.1', { keepalive: -1 }), ERR(RangeError, /option keepalive must be from 0 to 65535, got -1/))
  assert.throws(() => mqtt.connect('mqtt://127.0.0.1', { reconnectPeriod: 1.5 }), ERR(TypeError, /option reconnectPeriod must be an integer/))
  assert.throws(() => mqtt.connect('mqtt://127.0.0.1', { clean: 'yes' }), ERR(TypeError, /option clean must be a boolean/))
  // PEM goes to the library as C text, which ends at a NUL byte: refused rather than cut short
  assert.throws(() => mqtt.connect('mqtts://127.0.0.1', { ca: 'a\0b' }), ERR(TypeError, /option ca contains a NUL byte/))
  assert.throws(() => mqtt.connect('mqtt://127.0.0.1', { port: 0 }), ERR(RangeError, /option port must be a port number/))
  assert.throws(() => mqtt.connect({ servers: [] }), ERR(TypeError, /option servers must be a non-empty array/))
  assert.throws(() => mqtt.connect({ servers: [{ host: 'a', port: 70000 }] }), ERR(RangeError, /servers\[0\]\.port must be a port number/))
  assert.throws(() => mqtt.connect({ servers: [{ hostname: 'a' }] }), ERR(TypeError, /servers\[0\]: unknown key hostname/))
  assert.throws(() => mqtt.connect('mqtt://127.0.0.1', { will: { topic: 'a/+', payload: 'x' } }), ERR(TypeError, /wildcard/))
  assert.throws(() => mqtt.connect('mqtt://127.0.0.1', { will: { topic: 'a', payload: 'x', qos: 3 } }), ERR(RangeError, /will\.qos must be 0, 1 or 2, got 3/))
  assert.throws(() => mqtt.connect('mqtt://127.0.0.1', { ha: { publisherType: 'SOMETIMES' } }), ERR(RangeError, /ha\.publisherType must be one of STICKY, ROUND_ROBIN, RANDOM, ALL/))
  assert.throws(() => mqtt.connect('mqtt://127.0.0.1', { ha: { fos: 7 } }), ERR(RangeError, /ha\.fos must be between 0 and 3, got 7/))
  assert.throws(() => mqtt.connect('mqtt://127.0.0.1', { ha: { dedup: 1 } }), ERR(TypeError, /ha\.dedup must be a boolean/))
  assert.throws(() => mqtt.connect('mqtt://127.0.0.1', { ha: { dedupe: true } }), ERR(TypeError, /unknown option ha\.dedupe/))
  assert.throws(() => mqtt.connect('mqtt://127.0.0.1', { cert: 'x' }), ERR(TypeError, /cert and key go together/))
  assert.throws(() => mqtt.connect('mqtt://127.0.0.1', { clean: false }), /Missing clientId for unclean clients/)
  assert.throws(() => mqtt.connect('mqtt://127.0.0.1', { cluster: 'x' }), ERR(TypeError, /give either a broker URL or option cluster/))
  assert.throws(() => mqtt.connect({ cluster: 'x', clientId: 'y' }), /option clientId together with option cluster is not supported/)
})

test('connect: what cannot be offered is named', () => {
  const cases = [
    [{ protocolVersion: 3 }, /protocolVersion 3 is not supported/],
    [{ protocolId: 'MQIsdp' }, /protocolId "MQIsdp" is not supported/],
    [{ protocolVersion: 5, properties: { authenticationMethod: 'SCRAM-SHA-1' } }, /option properties\.authenticationMethod is not supported: MQTT 5 enhanced authentication/],
    [{ protocolVersion: 5, customHandleAcks: () => {} }, /option customHandleAcks/],
    [{ incomingStore: {} }, /option incomingStore \(custom message stores/],
    [{ transformWsUrl: () => '' }, /option transformWsUrl/],
    [{ resubscribe: false }, /resubscribe: false is not supported: the engine always replays/],
    [{ log: console.log }, /option log/],
    [{ passphrase: 'x' }, /encrypted private keys/]
  ]
  for (const [opts, re] of cases) {
    assert.throws(() => mqtt.connect('mqtt://127.0.0.1:1', opts), (e) => {
      assert.equal(e.code, 'ERR_HAMQTT_UNSUPPORTED', e.message)
      assert.match(e.message, re)
      return true
    }, JSON.stringify(Object.keys(opts)))
  }
  assert.throws(() => mqtt.connect('mqtt://127.0.0.1:1?foo=bar'), /URL query parameter foo is not supported/)
})

test('client methods: bad arguments throw, unsupported features are named', async () => {
  const broker = await startBroker()
  const c = mqtt.connect(broker.url)
  try {
    assert.throws(() => c.publish(42, 'x'), ERR(TypeError, /publish topic must be a string, got number 42/))
    assert.throws(() => c.publish('', 'x'), ERR(TypeError, /publish topic must not be empty/))
    assert.throws(() => c.publish('a/+', 'x'), ERR(TypeError, /publish topic "a\/\+" contains a wildcard/))
    assert.throws(() => c.publish('a/#', 'x'), ERR(TypeError, /wildcard/))
    assert.throws(() => c.publish('a', 'x', { qos: 3 }), ERR(RangeError, /qos must be 0, 1 or 2, got 3/))
    assert.throws(() => c.publish('a', 'x', { qos: '1' }), ERR(TypeError, /qos must be 0, 1 or 2, got string "1"/))
    assert.throws(() => c.publish('a', { x: 1 }), ERR(TypeError, /message must be a string or a Buffer, got an object/))
    assert.throws(() => c.publish('a', 'x', { retain: 'yes' }), ERR(TypeError, /retain must be a boolean/))
    assert.throws(() => c.publish('a', 'x', {}, 'cb'), ERR(TypeError, /publish callback must be a function/))
    assert.throws(() => c.publish('a', 'x', { qoss: 1 }), ERR(TypeError, /unknown publish option qoss/))
    assert.throws(() => c.publish('a', 'x', { dup: true }), /publish option dup: true is not supported/)
    assert.throws(() => c.publish('a', 'x', { properties: {} }), ERR(TypeError, /publish option properties needs protocolVersion: 5/))
    assert.throws(() => c.subscribe(7), ERR(TypeError, /subscribe: topic must be a string, an array of strings or an object/))
    assert.throws(() => c.subscribe('a/#/b'), ERR(TypeError, /'#' must be the last level/))
    assert.throws(() => c.subscribe('a/b+'), ERR(TypeError, /'\+' must occupy a whole level/))
    assert.throws(() => c.subscribe([]), ERR(TypeError, /topic list is empty/))
    assert.throws(() => c.subscribe(['a', 5]), ERR(TypeError, /topic filter must be a string, got number 5/))
    assert.throws(() => c.subscribe({ a: { qos: 5 } }), ERR(RangeError, /qos of "a" must be 0, 1 or 2, got 5/))
    assert.throws(() => c.subscribe({ a: 1 }), ERR(TypeError, /"a" must map to \{ qos \}/))
    assert.throws(() => c.subscribe('a', { qos: -1 }), ERR(RangeError, /subscribe option qos must be 0, 1 or 2, got -1/))
    assert.throws(() => c.subscribe('a', { nl: true }), ERR(TypeError, /subscribe option nl needs protocolVersion: 5/))
    assert.throws(() => c.unsubscribe(3), ERR(TypeError, /unsubscribe: topic must be a string or a non-empty array/))
    assert.throws(() => c.unsubscribe('a', { properties: {} }), ERR(TypeError, /unsubscribe option properties needs protocolVersion: 5/))
    assert.throws(() => c.end(false, { reason: 4 }), ERR(TypeError, /unknown end option reason/))
    assert.throws(() => c.end(true, 'x', 5), ERR(TypeError, /end callback must be a function/))
    assert.throws(() => c.getLastMessageId(), /getLastMessageId\(\) is not supported/)
    assert.throws(() => c.removeOutgoingMessage(1), /removeOutgoingMessage\(\) is not supported/)
    assert.throws(() => c.reconnect({ incomingStore: {} }), /reconnect option incomingStore is not supported/)
    await assert.rejects(c.publishAsync('a/+', 'x'), ERR(TypeError, /wildcard/))
    await assert.rejects(c.subscribeAsync('a/#/b'), ERR(TypeError, /must be the last level/))
    // an oversized payload is refused by the library with a RangeError
    await c.subscribeAsync('ok', { qos: 0 })
    assert.throws(() => c.publish('big', Buffer.alloc(268435456)), (e) => e instanceof RangeError && e.code === 'HAMQTT_ERR_PAYLOAD')
  } finally {
    await c.endAsync()
    await broker.stop()
  }
})

test('HaMqttClient and HaClusters: bad arguments', async () => {
  const { HaMqttClient, HaClusters } = mqtt
  assert.throws(() => new HaMqttClient(), ERR(TypeError, /endpoints must be a non-empty string of broker URIs, got undefined/))
  assert.throws(() => new HaMqttClient('tcp://127.0.0.1:1', { timeToWait: 0 }), ERR(RangeError, /ha\.timeToWait must be an integer from 1/))
  assert.throws(() => new HaMqttClient('nope://x'), (e) => e.code === 'HAMQTT_ERR_CONFIG' && /unknown scheme "nope"/.test(e.message))
  const c = new HaMqttClient('tcp://127.0.0.1:1')
  await assert.rejects(c.publish('a', 'x'), (e) => e.code === 'HAMQTT_ERR_STATE' && /not connected/.test(e.message))
  assert.throws(() => c.publish('a', 'x', { qos: 9 }), ERR(RangeError, /qos must be 0, 1 or 2, got 9/))
  assert.throws(() => c.publishTo(1, 'a', 'x'), ERR(TypeError, /publishTo: endpoint must be an endpoint name/))
  assert.throws(() => c.subscribe('a', { qos: 1, nl: true }), ERR(TypeError, /unknown subscribe option nl/))
  assert.throws(() => c.addEndpoint(5), ERR(TypeError, /addEndpoint: uri must be a broker URI/))
  assert.throws(() => c.addEndpoint('tcp://127.0.0.1:2-3', 'named'), (e) => e.code === 'HAMQTT_ERR_INVALID' || e.code === 'HAMQTT_ERR_CONFIG')
  await assert.rejects(c.removeEndpoint('nope'), (e) => e.code === 'HAMQTT_ERR_NOT_FOUND')
  await c.close()
  assert.throws(() => c.liveEndpoints(), (e) => e.code === 'HAMQTT_ERR_CLOSED')
  assert.throws(() => HaClusters.initialize(5), ERR(TypeError, /give a file path, \{ path \} or \{ yaml \}/))
  assert.throws(() => HaClusters.initialize('/nonexistent/hamqtt.yaml'), (e) => e.code === 'HAMQTT_ERR_IO')
  assert.throws(() => HaClusters.initializeYaml('clusters:\n  - name: a\n    fos: 9\n'), (e) => e.code === 'HAMQTT_ERR_CONFIG' && /:3: clusters\[0\]\.fos/.test(e.message))
  assert.throws(() => HaClusters.getHaMqttClient(), (e) => e.code === 'HAMQTT_ERR_NOT_INITIALIZED')
  assert.throws(() => mqtt.connect({ cluster: 'edge' }), ERR(TypeError, /option cluster needs a configuration/))
})

test('ha.ackQuorum: checked here, and by the library', () => {
  const { HaMqttClient } = mqtt
  for (const bad of [-2, -100]) {
    assert.throws(() => mqtt.connect('mqtt://127.0.0.1:1', { manualConnect: true, ha: { ackQuorum: bad } }),
      ERR(RangeError, new RegExp(`option ha\\.ackQuorum must be -1 \\(every live broker\\), 0 or 1 \\(any one broker\\) or k > 1 \\(k of the live brokers\\), got ${bad}`)))
    assert.throws(() => new HaMqttClient('tcp://127.0.0.1:1', { ackQuorum: bad }), ERR(RangeError, /ha\.ackQuorum must be -1/))
  }
  for (const bad of ['2', 1.5, true, null]) {
    assert.throws(() => new HaMqttClient('tcp://127.0.0.1:1', { ackQuorum: bad }), ERR(TypeError, /option ha\.ackQuorum must be an integer/))
  }
  for (const good of [-1, 0, 1, 2, 7]) {
    const c = mqtt.connect('mqtt://127.0.0.1:1', { manualConnect: true, ha: { publisherType: 'ALL', ackQuorum: good } })
    c.end(true)
  }
  // A value that got past the JavaScript checks reaches hamqtt_options.ack_quorum, and the
  // library refuses it.
  const { binding } = require('../lib/client')
  assert.throws(() => new binding.NativeClient('tcp://127.0.0.1:1', { ackQuorum: -5 }, null, () => {}),
    (e) => e.code === 'HAMQTT_ERR_CONFIG' && /ack_quorum is -5/.test(e.message))
})
