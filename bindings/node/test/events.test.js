'use strict'
// MQTT.js's event sequences: a refused connect with reconnectPeriod 0 and > 0, a lost broker,
// end() / end(true) / endAsync() / end() twice from inside the 'error', 'close', 'offline',
// 'reconnect' and 'connect' handlers, reconnect(). Each scenario runs in a process of its own
// (test/fixtures/event-sequence.js) that must exit by itself with status 0, once with this
// package and, when it is installed, once with MQTT.js: both must give the sequence written
// here ('close' once per lost connection or failed attempt, as MQTT.js emits it). Where MQTT.js
// 5 does something after end() that hamqtt does not (a retry it had already scheduled), its own
// sequence is written next to ours.
//
// Then, in this process: the EventEmitter methods, the argument shapes of the callbacks and
// promises, and packetsend / packetreceive.
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const mqtt = require('..')
const { startBroker, freePort } = require('./helpers/mosquitto')
const { PKG, hasMqttJs, spawnNode } = require('./helpers/proc')
const { trackedClients } = require('./helpers/clients')

const FIXTURE = path.join(__dirname, 'fixtures', 'event-sequence.js')
const MODULES = { hamqtt: PKG, mqtt: path.join(PKG, 'node_modules', 'mqtt') }

// A run of failed retries, however many happened before a broker came back, counts as one.
const normalize = (events) => events.join(' ').replace(/(reconnect error:ECONNREFUSED close ?)+/g, '(reconnect error:ECONNREFUSED close)+ ').trim()

const E = 'error:ECONNREFUSED'
const RETRY = `reconnect ${E} close`
const SCENARIOS = [
  // nothing listens on the port
  { name: 'refused, reconnectPeriod 0: error, close, and the process exits', reconnectPeriod: 0, actions: [], want: `${E} close` },
  { name: 'refused, reconnectPeriod 0: end() in error', reconnectPeriod: 0, actions: [{ on: 'error', nth: 1, do: 'end' }], want: `${E} end cb close` },
  { name: 'refused, reconnectPeriod 0: end(true) in error', reconnectPeriod: 0, actions: [{ on: 'error', nth: 1, do: 'endForce' }], want: `${E} end cb close` },
  { name: 'refused, reconnectPeriod 0: endAsync() in error', reconnectPeriod: 0, actions: [{ on: 'error', nth: 1, do: 'endAsync' }], want: `${E} end cb close` },
  { name: 'refused, reconnectPeriod 0: end() twice in error', reconnectPeriod: 0, actions: [{ on: 'error', nth: 1, do: 'endTwice' }], want: `${E} cb2 end cb1 close` },
  { name: 'refused, reconnectPeriod 0: end() in close', reconnectPeriod: 0, actions: [{ on: 'close', nth: 1, do: 'end' }], want: `${E} close end cb` },
  { name: 'refused, reconnectPeriod > 0: retries every period; end() in the second close', reconnectPeriod: 100, actions: [{ on: 'close', nth: 2, do: 'end' }], want: `${E} offline close ${RETRY} end cb` },
  { name: 'refused, reconnectPeriod > 0: end() in error', reconnectPeriod: 100, actions: [{ on: 'error', nth: 1, do: 'end' }], want: `${E} end cb close` },
  { name: 'refused, reconnectPeriod > 0: end(true) in error', reconnectPeriod: 100, actions: [{ on: 'error', nth: 1, do: 'endForce' }], want: `${E} end cb close` },
  { name: 'refused, reconnectPeriod > 0: endAsync() in error', reconnectPeriod: 100, actions: [{ on: 'error', nth: 1, do: 'endAsync' }], want: `${E} end cb close` },
  { name: 'refused, reconnectPeriod > 0: end() in the error of a retry', reconnectPeriod: 100, actions: [{ on: 'error', nth: 2, do: 'end' }], want: `${E} offline close reconnect ${E} end cb close` },
  { name: 'refused, reconnectPeriod > 0: end() in offline', reconnectPeriod: 100, actions: [{ on: 'offline', nth: 1, do: 'end' }], want: `${E} offline close end cb`, mqttjs: `${E} offline close end cb ${RETRY}` },
  { name: 'refused, reconnectPeriod > 0: end() in close', reconnectPeriod: 100, actions: [{ on: 'close', nth: 1, do: 'end' }], want: `${E} offline close end cb` },
  { name: 'refused, reconnectPeriod > 0: end() twice in close', reconnectPeriod: 100, actions: [{ on: 'close', nth: 1, do: 'endTwice' }], want: `${E} offline close cb2 end cb1` },
  { name: 'refused, reconnectPeriod > 0: end() in reconnect', reconnectPeriod: 100, actions: [{ on: 'reconnect', nth: 1, do: 'end' }], want: `${E} offline close reconnect end cb close`, mqttjs: `${E} offline close reconnect end cb ${E} close` },
  // a broker that is up, then killed (and restarted)
  { name: 'connected: end() in connect', broker: true, reconnectPeriod: 100, actions: [{ on: 'connect', nth: 1, do: 'end' }], want: 'connect close end cb' },
  { name: 'connected: end(true) in connect', broker: true, reconnectPeriod: 100, actions: [{ on: 'connect', nth: 1, do: 'endForce' }], want: 'connect close end cb' },
  { name: 'connected: endAsync() in connect', broker: true, reconnectPeriod: 100, actions: [{ on: 'connect', nth: 1, do: 'endAsync' }], want: 'connect close end cb' },
  { name: 'connected: end() twice in connect', broker: true, reconnectPeriod: 100, actions: [{ on: 'connect', nth: 1, do: 'endTwice' }], want: 'connect cb2 close end cb1' },
  { name: 'lost, reconnectPeriod 0: close, and the process exits', broker: true, reconnectPeriod: 0, actions: [{ on: 'connect', nth: 1, do: 'kill' }], want: 'connect close' },
  { name: 'lost, reconnectPeriod 0: end() in close', broker: true, reconnectPeriod: 0, actions: [{ on: 'connect', nth: 1, do: 'kill' }, { on: 'close', nth: 1, do: 'end' }], want: 'connect close end cb' },
  { name: 'lost, reconnectPeriod > 0: end() in offline', broker: true, reconnectPeriod: 100, actions: [{ on: 'connect', nth: 1, do: 'kill' }, { on: 'offline', nth: 1, do: 'end' }], want: 'connect offline close end cb', mqttjs: `connect offline close end cb ${RETRY}` },
  { name: 'lost, reconnectPeriod > 0: end() in close', broker: true, reconnectPeriod: 100, actions: [{ on: 'connect', nth: 1, do: 'kill' }, { on: 'close', nth: 1, do: 'end' }], want: 'connect offline close end cb' },
  { name: 'lost, reconnectPeriod > 0: end(true) in the error of a retry', broker: true, reconnectPeriod: 100, actions: [{ on: 'connect', nth: 1, do: 'kill' }, { on: 'error', nth: 1, do: 'endForce' }], want: `connect offline close reconnect ${E} end cb close` },
  {
    name: 'lost, reconnectPeriod > 0: retries until the broker is back, then connect',
    broker: true,
    reconnectPeriod: 100,
    actions: [{ on: 'connect', nth: 1, do: 'kill' }, { on: 'close', nth: 2, do: 'restart' }, { on: 'connect', nth: 2, do: 'end' }],
    want: `connect offline close ${RETRY} reconnect connect close end cb`
  },
  { name: 'reconnect() while connected: reconnect, close, end, connect', broker: true, reconnectPeriod: 100, actions: [{ on: 'connect', nth: 1, do: 'reconnect' }, { on: 'connect', nth: 2, do: 'end' }], want: 'connect reconnect close end connect close end cb' }
]

async function run (lib, scenario) {
  const r = await spawnNode(FIXTURE, {
    env: { MODULE: MODULES[lib], SCENARIO: JSON.stringify(scenario) },
    timeoutMs: 20000
  }).done
  const where = `${lib}: ${scenario.name}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`
  assert.equal(r.signal, null, `killed at the deadline: the process did not exit by itself (${where})`)
  assert.equal(r.code, 0, `exit status ${r.code} (${where})`)
  const lines = r.stdout.trim().split('\n')
  return { events: JSON.parse(lines[lines.length - 1]), where }
}

const libs = hasMqttJs() ? ['hamqtt', 'mqtt'] : ['hamqtt']

// Scenarios run four at a time (each process has its own broker and port).
test('event sequences match MQTT.js (refused connects, lost brokers, end() from every handler)', { timeout: 120000 }, async () => {
  const jobs = []
  for (const s of SCENARIOS) for (const lib of libs) jobs.push({ s, lib })
  const failures = []
  let next = 0
  async function worker () {
    while (next < jobs.length) {
      const { s, lib } = jobs[next++]
      try {
        const { events, where } = await run(lib, s)
        const want = normalize((lib === 'mqtt' && s.mqttjs ? s.mqttjs : s.want).split(' '))
        const got = normalize(events)
        if (got !== want) failures.push(`${where}\n  want: ${want}\n  got:  ${got}`)
      } catch (err) {
        failures.push(err.message)
      }
    }
  }
  await Promise.all([worker(), worker(), worker(), worker()])
  assert.deepEqual(failures, [])
})

let broker
test.before(async () => { broker = await startBroker() })
test.after(async () => { await broker.stop() })

const open = trackedClients(test)
const track = (c) => { open.add(c); return c }

const once = (emitter, event, ms = 10000) => new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error(`no '${event}' within ${ms} ms`)), ms)
  emitter.once(event, (...args) => { clearTimeout(t); resolve(args) })
})

test('on, once, off, addListener, removeListener, removeAllListeners, prependListener, prependOnceListener', async () => {
  const c = track(mqtt.connect(broker.url, { manualConnect: true }))
  const order = []
  const removed = () => order.push('removed')
  assert.equal(c.on('connect', () => order.push('on')), c)
  assert.equal(c.prependListener('connect', () => order.push('prepend')), c)
  assert.equal(c.once('connect', () => order.push('once')), c)
  assert.equal(c.prependOnceListener('connect', () => order.push('prependOnce')), c)
  assert.equal(c.addListener('connect', removed), c)
  assert.equal(c.off('connect', removed), c)
  c.on('connect', removed)
  assert.equal(c.removeListener('connect', removed), c)
  assert.equal(c.listenerCount('connect'), 4)
  c.connect()
  await once(c, 'connect')
  assert.deepEqual(order, ['prependOnce', 'prepend', 'on', 'once'])
  c.reconnect()
  await once(c, 'connect')
  assert.deepEqual(order, ['prependOnce', 'prepend', 'on', 'once', 'prepend', 'on'])
  assert.equal(c.removeAllListeners('connect'), c)
  c.reconnect()
  await once(c, 'connect')
  assert.equal(order.length, 6)
  // The client works with none of its listeners left (nothing of its own hangs on them).
  c.removeAllListeners()
  assert.deepEqual(c.eventNames(), [])
  await c.subscribeAsync('ee/#', { qos: 1 })
  const got = once(c, 'message')
  await c.publishAsync('ee/1', 'x', { qos: 1 })
  assert.equal((await got)[0], 'ee/1')
  await c.endAsync()
})

test("without an 'error' listener a refused connect neither throws nor warns (MQTT.js's connect() ignores it)", async () => {
  const warnings = []
  const onWarning = (w) => warnings.push(w)
  process.on('warning', onWarning)
  try {
    const c = track(mqtt.connect(`mqtt://127.0.0.1:${await freePort()}`, { reconnectPeriod: 50 }))
    let closes = 0
    await new Promise((resolve) => c.on('close', () => { if (++closes === 3) resolve() }))
    await c.endAsync()
    await new Promise((resolve) => setImmediate(resolve))
  } finally {
    process.off('warning', onWarning)
  }
  assert.deepEqual(warnings.filter((w) => w.name === 'HamqttWarning'), [])
})

test('callback and promise shapes: publish, subscribe, unsubscribe, end, connectAsync, as MQTT.js gives them', async () => {
  const c = track(await mqtt.connectAsync(broker.url))
  assert.ok(c instanceof mqtt.MqttClient)
  const args = (fn) => new Promise((resolve) => fn((...a) => resolve(a)))
  // subscribe: (null, granted, suback)
  const [serr, granted, suback] = await args((cb) => c.subscribe({ 'sh/a': { qos: 1 }, 'sh/b': { qos: 2 } }, cb))
  assert.equal(serr, null)
  assert.deepEqual(granted, [{ topic: 'sh/a', qos: 1 }, { topic: 'sh/b', qos: 2 }])
  assert.equal(suback.cmd, 'suback')
  assert.deepEqual(suback.granted, [1, 2])
  assert.ok(Number.isInteger(suback.messageId))
  assert.deepEqual(await c.subscribeAsync('sh/c'), [{ topic: 'sh/c', qos: 0 }])
  // publish: QoS 0 calls back with no arguments, QoS 1 and 2 with (null, packet)
  assert.deepEqual(await args((cb) => c.publish('sh/a', 'zero', cb)), [])
  for (const qos of [1, 2]) {
    const [perr, packet] = await args((cb) => c.publish('sh/a', 'm', { qos }, cb))
    assert.equal(perr, null)
    assert.deepEqual({ ...packet, messageId: 0 }, { cmd: 'publish', topic: 'sh/a', payload: 'm', qos, retain: false, dup: false, messageId: 0 })
    assert.ok(Number.isInteger(packet.messageId))
  }
  assert.equal(await c.publishAsync('sh/a', 'zero'), undefined)
  assert.equal((await c.publishAsync('sh/a', 'one', { qos: 1 })).cmd, 'publish')
  // unsubscribe: (null, unsuback)
  const [uerr, unsuback] = await args((cb) => c.unsubscribe('sh/a', cb))
  assert.equal(uerr, null)
  assert.equal(unsuback.cmd, 'unsuback')
  assert.ok(Number.isInteger(unsuback.messageId))
  assert.equal((await c.unsubscribeAsync(['sh/b', 'sh/c'])).cmd, 'unsuback')
  // end: the callback and the promise get nothing
  assert.equal(await c.endAsync(), undefined)
  assert.deepEqual(await args((cb) => c.end(cb)), [])
  // after end: 'client disconnecting' to the callback, the promise rejects
  await assert.rejects(c.publishAsync('sh/a', 'late'), /client disconnecting/)
  await assert.rejects(c.subscribeAsync('sh/a'), /client disconnecting/)
  await assert.rejects(c.unsubscribeAsync('sh/a'), /client disconnecting/)
})

test('packetsend and packetreceive: what the client exchanges with the cluster, before the events and callbacks they answer', async () => {
  const c = track(mqtt.connect(broker.url, { manualConnect: true }))
  const log = []
  c.on('packetsend', (p) => log.push(['send', p.cmd, p]))
  c.on('packetreceive', (p) => log.push(['receive', p.cmd, p]))
  c.on('connect', (connack) => log.push(['event', 'connect', connack]))
  c.on('message', (topic, payload, packet) => log.push(['event', 'message', packet]))
  c.on('disconnect', () => log.push(['event', 'disconnect'])) // MQTT 5 only: never emitted
  c.connect()
  await once(c, 'connect')
  await c.subscribeAsync('pk/#', { qos: 2 })
  const got = once(c, 'message')
  await c.publishAsync('pk/1', 'one', { qos: 1 })
  await got
  await c.publishAsync('pk/2', 'two', { qos: 2 })
  await c.publishAsync('pk/0', 'zero')
  await c.unsubscribeAsync('pk/#')
  await c.endAsync()
  const cmds = log.map(([dir, cmd]) => `${dir}:${cmd}`)
  const at = (s) => cmds.indexOf(s)
  assert.equal(cmds[0], 'receive:connack')
  assert.equal(cmds[1], 'event:connect')
  assert.equal(log[0][2], log[1][2]) // the CONNACK 'connect' gets
  assert.ok(at('send:subscribe') < at('receive:suback'))
  assert.deepEqual(log[at('send:subscribe')][2].subscriptions, [{ topic: 'pk/#', qos: 2 }])
  assert.deepEqual(log[at('receive:suback')][2].granted, [2])
  const pub1 = log.find(([dir, cmd, p]) => dir === 'send' && cmd === 'publish' && p.topic === 'pk/1')[2]
  assert.equal(log.find(([, cmd]) => cmd === 'puback')[2].messageId, pub1.messageId)
  const pub2 = log.find(([dir, cmd, p]) => dir === 'send' && cmd === 'publish' && p.topic === 'pk/2')[2]
  assert.equal(log.find(([, cmd]) => cmd === 'pubcomp')[2].messageId, pub2.messageId)
  assert.equal(log.find(([dir, cmd, p]) => dir === 'send' && cmd === 'publish' && p.topic === 'pk/0')[2].messageId, 0)
  // an incoming PUBLISH comes as packetreceive just before 'message', the same packet
  const m = at('event:message')
  assert.equal(cmds[m - 1], 'receive:publish')
  assert.equal(log[m - 1][2], log[m][2])
  assert.ok(at('send:unsubscribe') < at('receive:unsuback'))
  assert.equal(cmds[cmds.length - 1], 'send:disconnect')
  assert.equal(at('event:disconnect'), -1)
})
