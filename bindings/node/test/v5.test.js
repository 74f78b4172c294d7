'use strict'
// MQTT 5 (protocolVersion: 5) against a real Mosquitto with an ACL (anonymous clients may only
// read ro/#): one program written for MQTT.js 5 run with MQTT.js and with hamqtt (the import
// swapped) must see the same CONNACK, grants, messages and properties, and the same refusals
// (reason code 135 for a publish the ACL denies, QoS 1 and 2); properties between hamqtt and
// MQTT.js both ways; the subscription options nl, rap and rh; the CONNACK's assigned client id.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const hamqtt = require('..')
const { startBroker, tmpDir } = require('./helpers/mosquitto')
const { PKG, hasMqttJs } = require('./helpers/proc')

const mqttjs = hasMqttJs() ? require(path.join(PKG, 'node_modules', 'mqtt')) : null
const { trackedClients, within } = require('./helpers/clients')
const needsMqttJs = { skip: mqttjs ? false : 'MQTT.js (the devDependency) is not installed' }

let broker
test.before(async () => {
  // Mosquitto may run as another user: the ACL file must be readable to it.
  const dir = tmpDir('hamqtt-node-acl-')
  fs.chmodSync(dir, 0o755)
  const acl = path.join(dir, 'acl')
  fs.writeFileSync(acl, 'topic readwrite v5/#\ntopic read ro/#\n', { mode: 0o644 })
  broker = await startBroker([`acl_file ${acl}`])
})
test.after(async () => { await broker.stop() })

const open = trackedClients(test)


// The next `n` messages of a client, as (topic, payload, packet).
function messages (client, n, ms = 10000) {
  const got = []
  return within(new Promise((resolve) => {
    client.on('message', function on (topic, payload, packet) {
      got.push({ topic, payload: payload.toString(), packet })
      if (got.length === n) {
        client.off('message', on)
        resolve(got)
      }
    })
  }), ms, `${n} messages (got ${got.length})`)
}

const PROPS = {
  payloadFormatIndicator: true,
  messageExpiryInterval: 3600,
  contentType: 'application/json',
  responseTopic: 'v5/reply',
  correlationData: Buffer.from([0, 1, 2, 0xff]),
  userProperties: { plain: 'one', repeated: ['a', 'b', 'c'], 'ünïcode': 'välue' }
}

// The broker sends the expiry interval left, which may have lost a second on the way.
function settled (props) {
  if (props === undefined || props.messageExpiryInterval === undefined) return props
  const left = props.messageExpiryInterval
  return { ...props, messageExpiryInterval: left >= PROPS.messageExpiryInterval - 2 && left <= PROPS.messageExpiryInterval ? PROPS.messageExpiryInterval : left }
}

// A program written for MQTT.js 5; `mqtt` is MQTT.js or hamqtt.
async function program (mqtt, base) {
  const out = {}
  const client = mqtt.connect(broker.url, {
    protocolVersion: 5,
    clientId: `${base.replace(/\W/g, '')}-client`,
    properties: { sessionExpiryInterval: 0, receiveMaximum: 100, userProperties: { app: 'side-by-side' } }
  })
  open.add(client)
  const [connack] = await within(new Promise((resolve) => client.once('connect', (...a) => resolve(a))), 10000, 'connect')
  out.connack = { cmd: connack.cmd, reasonCode: connack.reasonCode, returnCode: connack.returnCode, sessionPresent: connack.sessionPresent, properties: connack.properties }

  // Two subscriptions with their identifiers, and subscription options.
  const relative = (granted) => granted.map((g) => ({ ...g, topic: g.topic.slice(base.length) }))
  out.granted = relative(await client.subscribeAsync({ [`${base}/+`]: { qos: 1, nl: false, rap: true, rh: 0 } }, { properties: { subscriptionIdentifier: 5 } }))
  out.granted2 = relative(await client.subscribeAsync(`${base}/deep/#`, { qos: 2, properties: { subscriptionIdentifier: 9 } }))

  const got = messages(client, 2)
  await new Promise((resolve, reject) => client.publish(`${base}/a`, 'with properties', { qos: 1, properties: PROPS }, (err) => (err ? reject(err) : resolve())))
  await client.publishAsync(`${base}/deep/x`, Buffer.from('no properties'), { qos: 2 })
  out.messages = (await got).map(({ topic, payload, packet }) => ({ topic: topic.slice(base.length), payload, qos: packet.qos, retain: packet.retain, properties: settled(packet.properties) }))

  // Refused by the broker's ACL: the reason code, as MQTT.js reports it.
  out.refused = []
  for (const qos of [1, 2]) {
    out.refused.push(await new Promise((resolve) => client.publish('ro/denied', 'x', { qos }, (err, packet) => {
      resolve({ name: err && err.name, code: err && err.code, message: err && err.message, isReasonError: err instanceof mqtt.ErrorWithReasonCode, cmd: packet && packet.cmd, reasonCode: packet && packet.reasonCode })
    })))
  }
  await client.endAsync()
  open.delete(client)
  return out
}

test('one MQTT.js 5 program, run on MQTT.js and on hamqtt: the same CONNACK, grants, messages, properties and refusals', needsMqttJs, async () => {
  const theirs = await program(mqttjs, 'v5/sbs-mqttjs')
  const ours = await program(hamqtt, 'v5/sbs-hamqtt')
  assert.deepEqual(ours, theirs)
  // and what both saw
  assert.equal(ours.connack.reasonCode, 0)
  assert.equal(ours.connack.returnCode, undefined)
  assert.deepEqual(ours.granted.map((g) => [g.qos, g.nl, g.rap, g.rh, g.properties]), [[1, false, true, 0, { subscriptionIdentifier: 5 }]])
  const [withProps, plain] = ours.messages
  assert.deepEqual({ ...withProps.properties, userProperties: { ...withProps.properties.userProperties } }, { ...PROPS, subscriptionIdentifier: 5 })
  assert.deepEqual(plain.properties, { subscriptionIdentifier: 9 })
  assert.deepEqual(ours.refused[0], { name: 'ErrorWithReasonCode', code: 135, message: 'Publish error: Not authorized', isReasonError: true, cmd: 'puback', reasonCode: 135 })
  assert.equal(ours.refused[1].cmd, 'pubrec')
})

test('properties between hamqtt and MQTT.js, both ways; the engine\'s message id only with messageIds', needsMqttJs, async () => {
  const theirs = mqttjs.connect(broker.url, { protocolVersion: 5 })
  const ours = hamqtt.connect(broker.url, { protocolVersion: 5, ha: { messageIds: 'always' } })
  const exact = hamqtt.connect(broker.url, { protocolVersion: 5 }) // the default: a memory outbox stamps nothing
  for (const c of [theirs, ours, exact]) open.add(c)
  await Promise.all([theirs, ours, exact].map((c) => within(new Promise((resolve) => c.once('connect', resolve)), 10000, 'connect')))
  await theirs.subscribeAsync('v5/rt/to-mqttjs/#', { qos: 1 })
  await ours.subscribeAsync('v5/rt/to-hamqtt', { qos: 1 })

  // hamqtt -> MQTT.js: the same properties; messageIds: 'always' adds "hamqtt-id"
  const atTheirs = messages(theirs, 2)
  await exact.publishAsync('v5/rt/to-mqttjs/exact', 'x', { qos: 1, properties: PROPS })
  await ours.publishAsync('v5/rt/to-mqttjs/stamped', 'y', { qos: 1, properties: PROPS })
  const [e, s] = (await atTheirs).sort((a, b) => a.topic.localeCompare(b.topic))
  assert.deepEqual(settled(e.packet.properties), { ...PROPS, userProperties: Object.assign(Object.create(null), PROPS.userProperties) })
  const { 'hamqtt-id': id, ...rest } = s.packet.properties.userProperties
  assert.match(id, /\S/)
  assert.deepEqual({ ...rest }, PROPS.userProperties)

  // MQTT.js -> hamqtt: what MQTT.js sends arrives as MQTT.js would give it
  const atOurs = messages(ours, 1)
  theirs.publish('v5/rt/to-hamqtt', 'z', { qos: 1, properties: { ...PROPS, userProperties: { k: ['1', '2'] } } })
  const [m] = await atOurs
  assert.deepEqual(settled(m.packet.properties), { ...PROPS, userProperties: Object.assign(Object.create(null), { k: ['1', '2'] }) })
})

test('subscription options: no local, retain as published, retain handling', async () => {
  const c = hamqtt.connect(broker.url, { protocolVersion: 5 })
  open.add(c)
  await within(new Promise((resolve) => c.once('connect', resolve)), 10000, 'connect')
  const got = []
  c.on('message', (topic, payload, packet) => got.push({ topic, retain: packet.retain }))
  const until = (pred, what) => within((async () => { while (!pred()) await new Promise((resolve) => setTimeout(resolve, 10)) })(), 10000, what)

  // nl: its own message does not come back; rap: the RETAIN flag as published, or cleared
  await c.subscribeAsync({ 'v5/opt/nl': { qos: 1, nl: true }, 'v5/opt/rap': { qos: 1, rap: true }, 'v5/opt/norap': { qos: 1 }, 'v5/opt/mark': { qos: 1 } })
  await c.publishAsync('v5/opt/nl', 'mine', { qos: 1 })
  await c.publishAsync('v5/opt/rap', 'r', { qos: 1, retain: true })
  await c.publishAsync('v5/opt/norap', 'r', { qos: 1, retain: true })
  await c.publishAsync('v5/opt/mark', 'm', { qos: 1 })
  await until(() => got.some((g) => g.topic === 'v5/opt/mark'), 'the mark')
  assert.deepEqual(got.filter((g) => g.topic !== 'v5/opt/mark'), [{ topic: 'v5/opt/rap', retain: true }, { topic: 'v5/opt/norap', retain: false }])

  // rh 2: no retained message on subscribing; rh 0: sent
  got.length = 0
  await c.subscribeAsync('v5/opt/rap', { qos: 1, rh: 2 })
  await c.subscribeAsync('v5/opt/norap', { qos: 1, rh: 0 })
  await c.publishAsync('v5/opt/mark', 'm', { qos: 1 })
  await until(() => got.some((g) => g.topic === 'v5/opt/mark'), 'the mark')
  assert.deepEqual(got.filter((g) => g.topic !== 'v5/opt/mark'), [{ topic: 'v5/opt/norap', retain: true }])
  for (const t of ['v5/opt/rap', 'v5/opt/norap']) await c.publishAsync(t, '', { qos: 1, retain: true })
})

test('CONNACK: clientId \'\' gets the engine\'s id as assignedClientIdentifier; the broker knows the client by it', async () => {
  const c = hamqtt.connect(broker.url, { protocolVersion: 5, clientId: '' })
  open.add(c)
  const [connack] = await within(new Promise((resolve) => c.once('connect', (...a) => resolve(a))), 10000, 'connect')
  assert.equal(connack.reasonCode, 0)
  assert.equal(connack.sessionPresent, false)
  const id = connack.properties.assignedClientIdentifier
  assert.match(id, /^hamqtt-/)
  // a second client with that id takes the session over: the first one loses its broker
  const down = within(new Promise((resolve) => c.once('endpointDown', resolve)), 10000, 'endpointDown')
  const thief = hamqtt.connect(broker.url, { protocolVersion: 5, clientId: id, reconnectPeriod: 0 })
  open.add(thief)
  await down
})

test('MQTT 5 arguments: clear errors', async () => {
  assert.throws(() => hamqtt.connect(broker.url, { properties: { sessionExpiryInterval: 1 } }), (e) => e instanceof TypeError && /option properties needs protocolVersion: 5/.test(e.message))
  assert.throws(() => hamqtt.connect(broker.url, { will: { topic: 'w', payload: 'x', properties: { willDelayInterval: 1 } } }), /will\.properties needs protocolVersion: 5/)
  assert.throws(() => hamqtt.connect(broker.url, { protocolVersion: 5, properties: { receiveMaximum: 0 } }), RangeError)
  assert.throws(() => hamqtt.connect(broker.url, { protocolVersion: 5, ha: { messageIds: 'sometimes' } }), /ha\.messageIds must be 'auto', 'always' or 'never'/)
  const c = hamqtt.connect(broker.url, { protocolVersion: 5, manualConnect: true })
  open.add(c)
  assert.throws(() => c.publish('v5/x', 'x', { properties: { subscriptionIdentifier: 3 } }), /never sends a Subscription Identifier/)
  assert.throws(() => c.publish('v5/x', 'x', { properties: { correlationData: 5 } }), /correlationData must be a Buffer/)
  assert.throws(() => c.publish('v5/x', 'x', { properties: { userProperties: { k: {} } } }), /userProperties\["k"\] must be a string/)
  assert.throws(() => c.publish('v5/x', 'x', { properties: { responseTopic: 'a/+' } }), /responseTopic "a\/\+" must be a topic name/)
  assert.throws(() => c.subscribe('v5/x', { rh: 3 }), RangeError)
  assert.throws(() => c.subscribe('v5/x', { properties: { userProperties: { a: ['b', 5, {}] } } }), /userProperties\["a"\] must be a string/)
  // the engine's own user property names are refused by the library
  assert.throws(() => c.publish('v5/x', 'x', { properties: { userProperties: { 'hamqtt-id': 'x' } } }), (e) => e.code === 'HAMQTT_ERR_INVALID')
  // topicAlias is accepted and left to the engine
  c.publish('v5/x', 'x', { properties: { topicAlias: 3 } })
})
