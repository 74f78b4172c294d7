'use strict'
// MQTT 5 reasons and properties both ways, each case one program written for MQTT.js 5 run with
// MQTT.js and with hamqtt (the import swapped) against a real Mosquitto, which must see the same:
// the will published on end() with reason code 4 (disconnect with will message) and not on a
// normal end; user properties on SUBSCRIBE and UNSUBSCRIBE; the Maximum Packet Size a client
// announces; a broker's DISCONNECT ('disconnect' with its reason code and reason string; Mosquitto
// 2.0 sends none on takeover or shutdown, so a stand-in broker on a local socket plays it).
const test = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')
const path = require('node:path')
const hamqtt = require('..')
const { startBroker } = require('./helpers/mosquitto')
const { PKG, hasMqttJs } = require('./helpers/proc')

const mqttjs = hasMqttJs() ? require(path.join(PKG, 'node_modules', 'mqtt')) : null
const { trackedClients, within } = require('./helpers/clients')
const needsMqttJs = { skip: mqttjs ? false : 'MQTT.js (the devDependency) is not installed' }

let broker
test.before(async () => { broker = await startBroker() })
test.after(async () => { await broker.stop() })

const open = trackedClients(test)


async function connected (mqtt, options, url = broker.url) {
  const c = mqtt.connect(url, { protocolVersion: 5, ...options })
  open.add(c)
  await within(new Promise((resolve, reject) => { c.once('connect', resolve); c.once('error', reject) }), 10000, 'connect')
  return c
}

// The topics `watcher` receives until the mark (published last) arrives.
async function untilMark (watcher, base, act, got = []) {
  const mark = within(new Promise((resolve) => {
    watcher.on('message', function on (topic, payload) {
      if (topic === `${base}/mark`) {
        watcher.off('message', on)
        resolve()
      } else {
        got.push(`${topic.slice(base.length)} ${payload}`)
      }
    })
  }), 10000, 'the mark')
  await act()
  await watcher.publishAsync(`${base}/mark`, '', { qos: 1 })
  await mark
  return got
}

async function willProgram (mqtt, base) {
  const watcher = await connected(mqtt, {})
  await watcher.subscribeAsync([`${base}/will/#`, `${base}/mark`], { qos: 1 })
  const will = (name) => ({ topic: `${base}/will/${name}`, payload: `${name} gone`, qos: 1 })
  const got = []
  return untilMark(watcher, base, async () => {
    const withWill = await connected(mqtt, { will: will('with') })
    const normal = await connected(mqtt, { will: will('normal') })
    const userProps = await connected(mqtt, { will: will('props') })
    await new Promise((resolve) => withWill.end(false, { reasonCode: 4 }, resolve))
    await new Promise((resolve) => normal.end(false, { reasonCode: 0 }, resolve))
    await new Promise((resolve) => userProps.end(false, { reasonCode: 4, properties: { reasonString: 'going', userProperties: { why: 'test' } } }, resolve))
    for (const c of [withWill, normal, userProps]) open.delete(c)
    // the wills of reason code 4: published when the broker has the DISCONNECT (the mark after
    // them shows that no other came)
    await within((async () => { while (got.length < 2) await new Promise((resolve) => setTimeout(resolve, 10)) })(), 10000, 'the wills')
  }, got)
}

test('end() with reason code 4 has the broker publish the will; a normal end does not (MQTT.js and hamqtt alike)', needsMqttJs, async () => {
  const theirs = await willProgram(mqttjs, 'v5d/will-mqttjs')
  const ours = await willProgram(hamqtt, 'v5d/will-hamqtt')
  assert.deepEqual(ours.sort(), theirs.sort())
  assert.deepEqual(ours.sort(), ['/will/props props gone', '/will/with with gone'])
})

async function userPropsProgram (mqtt, base) {
  const c = await connected(mqtt, {})
  const out = {}
  out.granted = (await c.subscribeAsync(`${base}/t`, { qos: 1, properties: { userProperties: { app: 'side-by-side', many: ['1', '2'] } } }))
    .map((g) => ({ ...g, topic: g.topic.slice(base.length) }))
  await c.subscribeAsync(`${base}/mark`, { qos: 1 })
  out.subscribed = await untilMark(c, base, () => c.publishAsync(`${base}/t`, 'while subscribed', { qos: 1 }))
  await c.unsubscribeAsync(`${base}/t`, { properties: { userProperties: { app: 'side-by-side' } } })
  out.unsubscribed = await untilMark(c, base, () => c.publishAsync(`${base}/t`, 'after unsubscribing', { qos: 1 }))
  return out
}

test('user properties on SUBSCRIBE and UNSUBSCRIBE are sent and the broker takes both (MQTT.js and hamqtt alike)', needsMqttJs, async () => {
  const theirs = await userPropsProgram(mqttjs, 'v5d/up-mqttjs')
  const ours = await userPropsProgram(hamqtt, 'v5d/up-hamqtt')
  assert.deepEqual(ours, theirs)
  assert.deepEqual(ours.subscribed, ['/t while subscribed'])
  assert.deepEqual(ours.unsubscribed, [])
})

async function packetSizeProgram (mqtt, base) {
  const small = await connected(mqtt, { properties: { maximumPacketSize: 200 } })
  const publisher = await connected(mqtt, {})
  await small.subscribeAsync([`${base}/#`], { qos: 1 })
  return untilMark(small, base, async () => {
    await publisher.publishAsync(`${base}/small`, 'x'.repeat(50), { qos: 1 })
    await publisher.publishAsync(`${base}/large`, 'y'.repeat(500), { qos: 1 })
    await publisher.publishAsync(`${base}/small`, 'z', { qos: 1 })
  })
}

test('properties.maximumPacketSize: the broker forwards no larger packet to the client (MQTT.js and hamqtt alike)', needsMqttJs, async () => {
  const theirs = await packetSizeProgram(mqttjs, 'v5d/mps-mqttjs')
  const ours = await packetSizeProgram(hamqtt, 'v5d/mps-hamqtt')
  assert.deepEqual(ours, theirs)
  assert.deepEqual(ours, [`/small ${'x'.repeat(50)}`, '/small z'])
})

// A stand-in broker that answers every CONNECT with a CONNACK, then sends DISCONNECT 0x89
// (server busy) with the reason string "busy" and closes.
function busyBroker () {
  const CONNACK = Buffer.from([0x20, 0x03, 0x00, 0x00, 0x00])
  const BYE = Buffer.from([0xe0, 0x09, 0x89, 0x07, 0x1f, 0x00, 0x04, ...Buffer.from('busy')])
  const sockets = new Set()
  const server = net.createServer((s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => {})
    s.once('data', () => { s.write(CONNACK); s.end(BYE) })
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `mqtt://127.0.0.1:${server.address().port}`,
    stop: () => new Promise((resolve) => { for (const s of sockets) s.destroy(); server.close(resolve) })
  })))
}

async function busyProgram (mqtt, url) {
  const c = mqtt.connect(url, { protocolVersion: 5, reconnectPeriod: 60000 })
  open.add(c)
  const events = []
  for (const e of ['connect', 'close', 'offline']) c.on(e, () => events.push(e))
  c.on('error', () => {})
  const packet = await within(new Promise((resolve) => c.once('disconnect', (p) => { events.push('disconnect'); resolve(p) })), 10000, "'disconnect'")
  await within(new Promise((resolve) => (events.includes('offline') ? resolve() : c.once('offline', resolve))), 10000, "'offline'")
  await c.endAsync(true)
  open.delete(c)
  return { packet: { cmd: packet.cmd, reasonCode: packet.reasonCode, properties: packet.properties }, events }
}

test("a broker's DISCONNECT: 'disconnect' with its reason code and reason string, then 'close' and 'offline' (MQTT.js and hamqtt alike)", needsMqttJs, async () => {
  const busy = await busyBroker()
  try {
    const theirs = await busyProgram(mqttjs, busy.url)
    const ours = await busyProgram(hamqtt, busy.url)
    assert.deepEqual(ours, theirs)
    assert.deepEqual(ours.packet, { cmd: 'disconnect', reasonCode: 0x89, properties: { reasonString: 'busy' } })
  } finally {
    await busy.stop()
  }
})

test("a cluster: one broker's DISCONNECT is a 'disconnect' naming it while the other stays live (no 'close')", async () => {
  const busy = await busyBroker()
  try {
    const c = hamqtt.connect(`${broker.url},${busy.url.replace('mqtt://', '')}`, { protocolVersion: 5 })
    open.add(c)
    const events = []
    for (const e of ['close', 'offline']) c.on(e, () => events.push(e))
    const packet = await within(new Promise((resolve) => c.once('disconnect', resolve)), 10000, "'disconnect'")
    assert.equal(packet.reasonCode, 0x89)
    assert.equal(typeof packet.endpoint, 'string')
    assert.ok(c.connected)
    assert.ok(c.liveEndpoints().length >= 1)
    await c.publishAsync('v5d/cluster', 'still up', { qos: 1 })
    assert.deepEqual(events, [])
  } finally {
    await busy.stop()
  }
})

test('MQTT 5 DISCONNECT, SUBSCRIBE and UNSUBSCRIBE arguments: clear errors', async () => {
  const c = hamqtt.connect(broker.url, { protocolVersion: 5, manualConnect: true })
  open.add(c)
  assert.throws(() => c.end(false, { reasonCode: 0x8e }), (e) => e instanceof RangeError && /not one a client sends/.test(e.message))
  assert.throws(() => c.end(false, { reasonCode: 'x' }), TypeError)
  assert.throws(() => c.end(false, { properties: { serverReference: 'elsewhere' } }), /only a broker sends a Server Reference/)
  assert.throws(() => c.end(false, { properties: { sessionExpiryInterval: 60 } }), /forbids a non-zero session expiry at DISCONNECT/)
  assert.throws(() => c.end(false, { properties: { userProperties: { k: {} } } }), /userProperties\["k"\] must be a string/)
  assert.throws(() => c.end(false, { other: 1 }), /unknown end option other/)
  assert.throws(() => c.subscribe('v5/x', { properties: { userProperties: 'x' } }), /userProperties must be an object/)
  assert.throws(() => c.unsubscribe('v5/x', { properties: { subscriptionIdentifier: 1 } }), /unknown unsubscribe option properties subscriptionIdentifier/)
  assert.throws(() => hamqtt.connect(broker.url, { protocolVersion: 5, properties: { maximumPacketSize: 8 } }), RangeError)
  const v3 = hamqtt.connect(broker.url, { manualConnect: true })
  open.add(v3)
  assert.throws(() => v3.unsubscribe('v5/x', { properties: { userProperties: { a: 'b' } } }), /needs protocolVersion: 5/)
  assert.throws(() => v3.subscribe('v5/x', { properties: { userProperties: { a: 'b' } } }), /needs protocolVersion: 5/)
})

test('a session expiry at DISCONNECT when the client connected with one; MQTT 3.1.1 leaves the reason out as MQTT.js does', async () => {
  const c = await connected(hamqtt, { clientId: 'v5d-expiry', properties: { sessionExpiryInterval: 30 } })
  await new Promise((resolve) => c.end(false, { reasonCode: 0, properties: { sessionExpiryInterval: 0, reasonString: 'done' } }, resolve))
  open.delete(c)
  // the DISCONNECT's expiry 0 ended the session: none present on the next CONNECT
  const again = hamqtt.connect(broker.url, { protocolVersion: 5, clientId: 'v5d-expiry', clean: false, properties: { sessionExpiryInterval: 30 } })
  open.add(again)
  const connack = await within(new Promise((resolve) => again.once('connect', resolve)), 10000, 'connect')
  assert.equal(connack.sessionPresent, false)
  const v3 = await connected(hamqtt, { protocolVersion: 4 })
  await new Promise((resolve) => v3.end(false, { reasonCode: 4, properties: { reasonString: 'ignored' } }, resolve))
  open.delete(v3)
})
