'use strict'
// The MQTT.js-compatible surface against real Mosquitto brokers: URLs (schemes, host lists,
// ranges), `servers`, events, callbacks and promises, connected/reconnecting/options, QoS,
// retain, unsubscribe, end and reconnect, an unreachable cluster, broker restarts.
const test = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')
const os = require('node:os')
const { mqtt, protocolVersion, grants, mosquittoProtocol } = require('./helpers/protocol') // HAMQTT_TEST_PROTOCOL=5: over MQTT 5
const { startBroker, startBrokers, freePort, sleep, tmpDir, Broker } = require('./helpers/mosquitto')


let brokers
test.before(async () => { brokers = await startBrokers(2) })
test.after(async () => { for (const b of brokers) await b.stop() })

// Every client a test makes is ended after it, even when an assertion failed on the way.
const open = new Set()
const track = (c) => { open.add(c); return c }
const connect = (...args) => track(mqtt.connect(...args))
const connectAsync = async (...args) => track(await mqtt.connectAsync(...args))
test.afterEach(async () => {
  for (const c of open) await c.endAsync(true)
  open.clear()
})

const once = (emitter, event, ms = 10000) => new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error(`no '${event}' within ${ms} ms`)), ms)
  emitter.once(event, (...args) => { clearTimeout(t); resolve(args) })
})

function collect (client, n, ms = 10000) {
  const got = []
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`got ${got.length} of ${n} messages: ${JSON.stringify(got.map((g) => g.topic))}`)), ms)
    client.on('message', function onMessage (topic, payload, packet) {
      got.push({ topic, payload: payload.toString(), packet })
      if (got.length === n) {
        clearTimeout(t)
        client.off('message', onMessage)
        resolve(got)
      }
    })
  })
}

// Two consecutive free loopback ports (for a port range).
async function consecutivePorts () {
  for (let i = 0; i < 50; i++) {
    const p = await freePort()
    const ok = await new Promise((resolve) => {
      const s = net.createServer()
      s.once('error', () => resolve(false))
      s.listen(p + 1, '127.0.0.1', () => s.close(() => resolve(true)))
    })
    if (ok && p + 1 <= 65535) return [p, p + 1]
  }
  throw new Error('no two consecutive free ports')
}

test('connect with mqtt:// and a host list: events, connected, options, publish/subscribe callbacks', async () => {
  const [a, b] = brokers
  const url = `mqtt://127.0.0.1:${a.port},127.0.0.1:${b.port}`
  const client = connect(url, { clientId: 'list-1', keepalive: 30 })
  assert.equal(client.connected, false)
  assert.equal(client.options.clientId, 'list-1')
  assert.equal(client.options.keepalive, 30)
  assert.equal(client.options.protocol, 'mqtt')
  assert.equal(client.options.hostname, '127.0.0.1')
  assert.equal(client.options.port, a.port)
  assert.equal(client.options.endpoints, `mqtt://127.0.0.1:${a.port},mqtt://127.0.0.1:${b.port}`)
  const ups = []
  client.on('endpointUp', (name) => ups.push(name))
  const [connack] = await once(client, 'connect')
  assert.equal(connack.cmd, 'connack')
  assert.equal(protocolVersion === 5 ? connack.reasonCode : connack.returnCode, 0)
  assert.equal(client.connected, true)
  assert.equal(client.reconnecting, false)
  await new Promise((resolve, reject) => client.subscribe('t/+', { qos: 1 }, (err, granted) => {
    if (err) return reject(err)
    assert.deepEqual(grants(granted), [{ topic: 't/+', qos: 1 }])
    resolve()
  }))
  const msgs = collect(client, 2)
  await new Promise((resolve, reject) => client.publish('t/1', 'one', { qos: 1 }, (err, packet) => {
    if (err) return reject(err)
    assert.equal(packet.topic, 't/1')
    assert.equal(packet.qos, 1)
    resolve()
  }))
  client.publish('t/2', Buffer.from([0, 1, 2]))
  const got = await msgs
  assert.deepEqual(got.map((g) => g.topic), ['t/1', 't/2'])
  assert.ok(Buffer.isBuffer(got[1].packet.payload))
  assert.deepEqual([...got[1].packet.payload], [0, 1, 2])
  assert.equal(got[0].packet.cmd, 'publish')
  assert.equal(got[0].packet.qos, 1)
  assert.match(got[0].packet.endpoint, /^cluster-default-[12]$/)
  assert.deepEqual(client.liveEndpoints().sort(), ['cluster-default-1', 'cluster-default-2'])
  assert.deepEqual(ups.sort(), ['cluster-default-1', 'cluster-default-2'])
  const events = []
  client.on('close', () => events.push('close'))
  client.on('end', () => events.push('end'))
  await new Promise((resolve) => client.end(resolve))
  assert.deepEqual(events, ['close', 'end'])
  assert.equal(client.connected, false)
  assert.equal(client.disconnected, true)
  // end() again calls back at once; publishing after end reports 'client disconnecting'
  await new Promise((resolve) => client.end(resolve))
  const err = await new Promise((resolve) => client.publish('t/1', 'x', (e) => resolve(e)))
  assert.match(err.message, /client disconnecting/)
})

test('URL schemes tcp:// and a port range; the `servers` option; host option lists', async () => {
  const [p1, p2] = await consecutivePorts()
  const ranged = [new Broker(p1, tmpDir('hamqtt-r1-')),
    new Broker(p2, tmpDir('hamqtt-r2-'))]
  for (const b of ranged) await b.start()
  try {
    const c1 = await connectAsync(`tcp://127.0.0.1:${p1}-${p2}`)
    assert.equal(c1.options.endpoints, `tcp://127.0.0.1:${p1}-${p2}`)
    assert.equal(c1.liveEndpoints().length, 2)
    await c1.endAsync()

    const [a, b] = brokers
    const c2 = await connectAsync({ servers: [{ host: '127.0.0.1', port: a.port }, { host: '127.0.0.1', port: b.port, protocol: 'tcp' }] })
    assert.equal(c2.options.endpoints, `mqtt://127.0.0.1:${a.port},tcp://127.0.0.1:${b.port}`)
    assert.equal(c2.liveEndpoints().length, 2)
    await c2.endAsync()

    const c3 = await connectAsync({ host: `127.0.0.1:${a.port},127.0.0.1:${b.port}` })
    assert.equal(c3.liveEndpoints().length, 2)
    await c3.endAsync()

    const c4 = await connectAsync({ host: '127.0.0.1', port: a.port, protocol: 'mqtt' })
    assert.equal(c4.options.endpoints, `mqtt://127.0.0.1:${a.port}`)
    await c4.endAsync()

    // A bare host list is MQTT over TCP.
    const c5 = await connectAsync(`127.0.0.1:${a.port}`)
    assert.equal(c5.options.endpoints, `mqtt://127.0.0.1:${a.port}`)
    await c5.endAsync()
  } finally {
    for (const b of ranged) await b.stop()
  }
})

test('subscribe forms: array, object map; unsubscribe; promise forms; retain; QoS 2', async () => {
  const [a, b] = brokers
  const client = await connectAsync(`mqtt://127.0.0.1:${a.port},127.0.0.1:${b.port}`)
  const granted = await client.subscribeAsync(['s/a', 's/b'], { qos: 2 })
  assert.deepEqual(grants(granted), [{ topic: 's/a', qos: 2 }, { topic: 's/b', qos: 2 }])
  const g2 = await client.subscribeAsync({ 's/c': { qos: 1 }, 's/d': { qos: 0 } })
  assert.deepEqual(grants(g2), [{ topic: 's/c', qos: 1 }, { topic: 's/d', qos: 0 }])
  const msgs = collect(client, 4)
  for (const t of ['s/a', 's/b', 's/c', 's/d']) await client.publishAsync(t, t, { qos: 2 })
  const got = await msgs
  assert.deepEqual(got.map((m) => m.topic).sort(), ['s/a', 's/b', 's/c', 's/d'])
  assert.equal(got.find((m) => m.topic === 's/a').packet.qos, 2)
  assert.equal(got.find((m) => m.topic === 's/d').packet.qos, 0)

  await client.unsubscribeAsync(['s/a', 's/b'])
  await client.unsubscribeAsync('s/never-subscribed') // as MQTT.js: no error
  const rest = collect(client, 1)
  await client.publishAsync('s/a', 'gone', { qos: 1 })
  await client.publishAsync('s/c', 'still', { qos: 1 })
  const [m] = await rest
  assert.equal(m.topic, 's/c')

  // retained messages come with retain set
  await client.publishAsync('r/x', 'kept', { qos: 1, retain: true })
  const retained = collect(client, 1)
  await client.subscribeAsync('r/x', { qos: 1 })
  const [r] = await retained
  assert.equal(r.payload, 'kept')
  assert.equal(r.packet.retain, true)
  await client.publishAsync('r/x', '', { qos: 1, retain: true }) // clear it
  await client.endAsync()
})

test('publishes made before the connection are sent once connected (queueQoSZero)', async () => {
  const [a] = brokers
  const sub = await connectAsync(`mqtt://127.0.0.1:${a.port}`)
  await sub.subscribeAsync('early/#', { qos: 1 })
  const msgs = collect(sub, 2)
  const client = connect(`mqtt://127.0.0.1:${a.port}`)
  let acked = false
  client.publish('early/1', 'q0')
  client.publish('early/2', 'q1', { qos: 1 }, (err) => { acked = !err })
  const got = await msgs
  assert.deepEqual(got.map((m) => m.payload), ['q0', 'q1'])
  await sleep(50)
  assert.ok(acked)

  const noQueue = connect(`mqtt://127.0.0.1:${a.port}`, { queueQoSZero: false })
  const err = await new Promise((resolve) => noQueue.publish('early/3', 'x', (e) => resolve(e)))
  assert.match(err.message, /No connection to broker/)
  await Promise.all([client.endAsync(), sub.endAsync(), noQueue.endAsync()])
})

test('manualConnect waits for connect(); reconnect() reconnects; end then reconnect() keeps subscriptions', async () => {
  const [a] = brokers
  const client = connect(`mqtt://127.0.0.1:${a.port}`, { manualConnect: true })
  await sleep(200)
  assert.equal(client.connected, false)
  client.connect()
  await once(client, 'connect')
  await client.subscribeAsync('rc/#', { qos: 1 })

  const seen = []
  for (const e of ['reconnect', 'close', 'connect']) client.on(e, () => seen.push(e))
  client.reconnect()
  await once(client, 'connect')
  assert.deepEqual(seen, ['reconnect', 'close', 'connect'])
  const m1 = collect(client, 1)
  await client.publishAsync('rc/1', 'after reconnect', { qos: 1 })
  assert.equal((await m1)[0].payload, 'after reconnect')

  await client.endAsync()
  assert.equal(client.connected, false)
  client.reconnect()
  await once(client, 'connect')
  const m2 = collect(client, 1)
  await client.publishAsync('rc/2', 'after end + reconnect', { qos: 1 })
  assert.equal((await m2)[0].payload, 'after end + reconnect')
  await client.endAsync()
})

// The client's events as one string, a run of failed retries counted once.
function eventLog (client, events = ['connect', 'reconnect', 'close', 'offline', 'error', 'end']) {
  const seen = []
  for (const e of events) client.on(e, (x) => seen.push(e === 'error' ? `error:${x.code}` : e))
  return () => seen.join(' ').replace(/(reconnect error:ECONNREFUSED close ?)+/g, '(retries) ').trim()
}

test('every broker unreachable: ECONNREFUSED at once (not after timeToWait), retries every reconnectPeriod, connects when a broker comes', async () => {
  const port = await freePort()
  const broker = new Broker(port, tmpDir('hamqtt-late-'))
  const started = Date.now()
  const client = connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 100, ha: { timeToWait: 60000 } })
  const log = eventLog(client)
  // Long before the 60 s of timeToWait: the engine answers as soon as every broker refused.
  const [err] = await once(client, 'error', 20000)
  assert.ok(Date.now() - started < 30000, 'the error came before timeToWait')
  assert.ok(err instanceof Error)
  assert.equal(err.code, 'ECONNREFUSED')
  assert.equal(err.errno, -os.constants.errno.ECONNREFUSED)
  assert.equal(err.syscall, 'connect')
  assert.equal(err.address, '127.0.0.1')
  assert.equal(err.port, port)
  assert.equal(err.message, `connect ECONNREFUSED 127.0.0.1:${port}`)
  assert.equal(err.cause.code, 'HAMQTT_ERR_NO_ENDPOINT') // the engine's account, naming the endpoint
  assert.match(err.cause.message, /cluster-default-1 .*connection refused/)
  // MQTT.js's retries: 'reconnect', then the attempt's 'error' and 'close', every period.
  let closes = 0
  await new Promise((resolve) => client.on('close', function onClose () {
    if (++closes === 3) { client.off('close', onClose); resolve() }
  }))
  assert.equal(log(), 'error:ECONNREFUSED offline close (retries)')
  assert.equal(client.connected, false)
  assert.equal(client.reconnecting, true)
  // A subscription made while offline is made once the broker is up, and acknowledged then.
  const subscribed = client.subscribeAsync('late/#', { qos: 1 })
  const connected = once(client, 'connect', 15000)
  await broker.start()
  await connected
  assert.match(log(), /^error:ECONNREFUSED offline close \(retries\) reconnect connect$/)
  assert.equal(client.reconnecting, false)
  await subscribed
  const msgs = collect(client, 1)
  await client.publishAsync('late/1', 'hi', { qos: 1 })
  assert.equal((await msgs)[0].payload, 'hi')
  await client.endAsync()
  assert.match(log(), / connect close end$/)
  await broker.stop()
})

test('every broker unreachable, reconnectPeriod 0: ECONNREFUSED and close, then no retry even when a broker comes', async () => {
  const port = await freePort()
  const broker = new Broker(port, tmpDir('hamqtt-never-'))
  const client = connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, ha: { timeToWait: 60000 } })
  const log = eventLog(client)
  const closed = once(client, 'close', 20000)
  const [err] = await once(client, 'error', 20000)
  assert.equal(err.code, 'ECONNREFUSED')
  await closed
  await broker.start()
  try {
    // The engine stopped probing: nothing connects within a few of its probe intervals (105-245 ms).
    await sleep(750)
    assert.equal(log(), 'error:ECONNREFUSED close')
    assert.equal(client.connected, false)
    assert.equal(client.reconnecting, false)
    assert.deepEqual(client.liveEndpoints(), [])
    // reconnect() starts again, as MQTT.js's.
    client.reconnect()
    await once(client, 'connect')
    assert.equal(log(), 'error:ECONNREFUSED close reconnect connect')
    await client.endAsync()
  } finally {
    await broker.stop()
  }
})

test('several brokers, all refusing: one ECONNREFUSED whose errors[] has each address, as net reports several addresses', async () => {
  const [p1, p2] = [await freePort(), await freePort()]
  const client = connect(`mqtt://127.0.0.1:${p1},127.0.0.1:${p2}`, { reconnectPeriod: 0 })
  const [err] = await once(client, 'error', 20000)
  assert.equal(err.code, 'ECONNREFUSED')
  assert.equal(err.syscall, 'connect')
  assert.equal(err.message, `connect ECONNREFUSED 127.0.0.1:${p1}, 127.0.0.1:${p2}`)
  assert.deepEqual(err.errors.map((e) => [e.code, e.errno, e.syscall, e.address, e.port, e.endpoint, e.message]), [
    ['ECONNREFUSED', err.errno, 'connect', '127.0.0.1', p1, 'cluster-default-1', `connect ECONNREFUSED 127.0.0.1:${p1}`],
    ['ECONNREFUSED', err.errno, 'connect', '127.0.0.1', p2, 'cluster-default-2', `connect ECONNREFUSED 127.0.0.1:${p2}`]
  ])
  await client.endAsync()
  // One broker up and one refusing: connected, no error.
  const [a] = brokers
  const mixed = connect(`mqtt://127.0.0.1:${a.port},127.0.0.1:${p1}`)
  const errors = []
  mixed.on('error', (e) => errors.push(e))
  await once(mixed, 'connect')
  assert.deepEqual(errors, [])
  await mixed.endAsync()
})

test('connectAsync rejects with ECONNREFUSED when nothing is reachable (allowRetries or not), and ends the client', async () => {
  const port = await freePort()
  for (const allowRetries of [true, false]) {
    await assert.rejects(mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { ha: { timeToWait: 60000 } }, allowRetries), (err) => {
      assert.equal(err.code, 'ECONNREFUSED')
      assert.equal(err.port, port)
      return true
    })
  }
})

test('reconnectPeriod 0: no reconnection after the broker dies', async () => {
  const broker = await startBroker()
  const client = await connectAsync(`mqtt://127.0.0.1:${broker.port}`, { reconnectPeriod: 0 })
  const seen = []
  for (const e of ['close', 'offline', 'reconnect']) client.on(e, () => seen.push(e))
  const closed = once(client, 'close')
  await broker.kill()
  await closed
  await sleep(300)
  assert.deepEqual(seen, ['close'])
  assert.equal(client.connected, false)
  assert.equal(client.reconnecting, false)
  await client.endAsync()
})

test('the last broker dies and comes back: offline, close, (reconnect, error, close)*, reconnect, connect; subscriptions replayed', async () => {
  const broker = await startBroker()
  const client = await connectAsync(`mqtt://127.0.0.1:${broker.port}`, { reconnectPeriod: 100 })
  await client.subscribeAsync('back/#', { qos: 1 })
  const log = eventLog(client)
  const down = once(client, 'close')
  await broker.kill()
  await down
  assert.equal(client.connected, false)
  assert.equal(client.reconnecting, true)
  const connected = once(client, 'connect', 15000)
  await broker.start()
  await connected
  assert.match(log(), /^offline close (\(retries\) )?reconnect connect$/)
  const msgs = collect(client, 1)
  const other = await connectAsync(`mqtt://127.0.0.1:${broker.port}`)
  await other.publishAsync('back/1', 'replayed', { qos: 1 })
  assert.equal((await msgs)[0].payload, 'replayed')
  await Promise.all([client.endAsync(), other.endAsync()])
  await broker.stop()
})

test('end(false) waits for in-flight QoS 1 publishes; end(true) does not wait', async () => {
  const [a] = brokers
  const client = await connectAsync(`mqtt://127.0.0.1:${a.port}`)
  let acked = 0
  for (let i = 0; i < 200; i++) client.publish('inflight/x', `m${i}`, { qos: 1 }, (err) => { if (!err) acked++ })
  await client.endAsync()
  assert.equal(acked, 200)
})

test('end(false) first sends the publishes made without a callback; one no broker takes is kept, or an error event when end(true) drops it', async () => {
  const [a] = brokers
  const url = `mqtt://127.0.0.1:${a.port}`
  const sub = await connectAsync(url)
  await sub.subscribeAsync('nocb/#', { qos: 1 })
  const got = collect(sub, 300)
  const client = await connectAsync(url)
  for (let i = 0; i < 300; i++) client.publish('nocb/x', `m${i}`, { qos: i % 2 })
  await client.endAsync() // nothing reports these publishes: end() flushes them
  assert.equal((await got).length, 300)

  // A callback-less QoS 1 publish that no broker takes is not lost silently. The broker
  // freezes (SIGSTOP: the connection stays open, nothing is acknowledged): the publish times out
  // there and finds no other broker; the outbox keeps it and sends it again, as MQTT.js keeps
  // it, and it arrives once the broker is back (SIGCONT). One still unsent when the client is
  // ended by force (its memory outbox closing) becomes an error event.
  const broker = await startBroker()
  const burl = `mqtt://127.0.0.1:${broker.port}`
  const watcher = await connectAsync(burl, { reconnectPeriod: 100, ha: { maxProbeDelay: 300 } })
  await watcher.subscribeAsync('nocb/#', { qos: 1 })
  const kept = new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('nocb/kept did not arrive within 15 s')), 15000)
    watcher.on('message', (topic) => { if (topic === 'nocb/kept') { clearTimeout(t); resolve() } })
  })
  const opts = { reconnectPeriod: 100, ha: { timeToWait: 500, ackTimeout: 200, maxProbeDelay: 300 } }
  const lone = await connectAsync(burl, { ...opts, ha: { ...opts.ha, warmUp: -1 } })
  const doomed = await connectAsync(burl, opts)
  // Connection attempts that fail while the broker is frozen are reported too, as MQTT.js
  // reports each failed reconnection; only the other errors count here.
  const attempt = (err) => err.code === 'HAMQTT_ERR_NO_ENDPOINT' || err.code === 'ECONNREFUSED'
  const errors = []
  lone.on('error', (err) => { if (!attempt(err)) errors.push(err.message) })
  const doomedErrors = []
  doomed.on('error', (err) => { if (!attempt(err)) doomedErrors.push(err.message) })
  process.kill(broker.proc.pid, 'SIGSTOP')
  let stopped = true
  try {
    lone.publish('nocb/kept', 'x', { qos: 1 })
    doomed.publish('nocb/dropped', 'y', { qos: 1 })
    await sleep(1500) // longer than ha.timeToWait: still held
    process.kill(broker.proc.pid, 'SIGCONT')
    stopped = false
    // Ended before the revived broker's warm-up (2 s) lets the message go out again.
    await doomed.endAsync(true)
    assert.deepEqual(doomedErrors, ['client disconnecting: 1 message published without a callback, not delivered to a broker, dropped with the memory outbox'])
    await kept // a copy written before the freeze may be what arrives: its ack was not seen
    await sleep(1000) // the copy sent again once the broker is back is acknowledged
  } finally {
    if (stopped) process.kill(broker.proc.pid, 'SIGCONT')
    await lone.endAsync()
    await doomed.endAsync(true)
    await watcher.endAsync(true)
    await broker.stop()
  }
  assert.deepEqual(errors, [])
})

test('keepalive 0 turns keep-alive off, as in MQTT.js (the broker sees k0)', async () => {
  const a = await startBroker(['log_type notice']) // logs each client's keep-alive
  try {
    const c = await connectAsync(`mqtt://127.0.0.1:${a.port}`, { keepalive: 0, clientId: 'node-ka-off' })
    assert.equal(c.options.keepalive, 0)
    const seen = `as node-ka-off (${mosquittoProtocol}, c1, k0)`
    for (let i = 0; i < 100 && !a.log.includes(seen); i++) await sleep(50)
    assert.ok(a.log.includes(seen), a.log)
    await c.endAsync()
  } finally {
    await a.stop()
  }
})

test('subscribe reports the QoS the broker granted (Mosquitto max_qos 1)', async () => {
  const b = await startBroker(['max_qos 1'])
  try {
    const c = await connectAsync(`mqtt://127.0.0.1:${b.port}`)
    const granted = await c.subscribeAsync({ 'g/two': { qos: 2 }, 'g/zero': { qos: 0 } })
    assert.deepEqual(grants(granted), [{ topic: 'g/two', qos: 1 }, { topic: 'g/zero', qos: 0 }])
    await c.endAsync()
  } finally {
    await b.stop()
  }
})

test('a configured cluster by name: option cluster with option config (YAML)', async () => {
  const [a, b] = brokers
  const yaml = [
    'defaultCluster: edge',
    'clusters:',
    '  - name: edge',
    '    connections:',
    '      - connection:',
    `          serverURIs: [tcp://127.0.0.1:${a.port}, tcp://127.0.0.1:${b.port}]`,
    ''
  ].join('\n')
  const client = await connectAsync({ cluster: 'edge', config: yaml })
  assert.deepEqual(client.liveEndpoints().sort(), ['edge-1', 'edge-2'])
  assert.throws(() => connect({ cluster: 'edge' }), /already used by another open client/)
  await client.subscribeAsync('cfg/#', { qos: 1 })
  const msgs = collect(client, 1)
  await client.publishAsync('cfg/1', 'from config', { qos: 1 })
  assert.equal((await msgs)[0].payload, 'from config')
  await client.endAsync()
  // once ended, the cluster can be used again
  const again = await connectAsync({ cluster: 'edge' })
  await again.endAsync()
  await mqtt.HaClusters.shutdown()
})

test('connack.sessionPresent: false for a new session, true once every broker kept it (clean: false)', async () => {
  const [a, b] = brokers
  const url = `mqtt://127.0.0.1:${a.port},127.0.0.1:${b.port}`
  const first = connect(url, { clientId: 'session-kept', clean: false })
  const ups = []
  first.on('endpointUp', (name) => ups.push(name))
  const [c1] = await once(first, 'connect')
  assert.equal(c1.sessionPresent, false)
  assert.equal(ups.length, 2, "the endpoints' up events come before 'connect'")
  await first.subscribeAsync('kept/#', { qos: 1 })
  await first.endAsync()
  const again = connect(url, { clientId: 'session-kept', clean: false })
  const [c2] = await once(again, 'connect')
  assert.equal(c2.sessionPresent, true)
  await again.endAsync()
  const clean = connect(url, { clientId: 'session-kept' })
  const [c3] = await once(clean, 'connect')
  assert.equal(c3.sessionPresent, false)
})
