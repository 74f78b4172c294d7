'use strict'
// The outbox through the MQTT.js API and the native HA API, against real Mosquitto brokers:
// publishes made before the connection and while no broker is reachable are stored and sent in
// publish order; the publish callback fires on the broker's acknowledgement (an Error at once
// when the outbox is full, later when a message is dropped or expires); outboxStats() and
// client.queue.length; end() with and without force; a disk outbox that outlives `kill -9` of
// its process and refuses a second owner; the option checks. What MQTT.js itself does is
// compared where a program would see it (cbStorePut, callback arguments, queueQoSZero).
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { mqtt } = require('./helpers/protocol') // HAMQTT_TEST_PROTOCOL=5: over MQTT 5
const { startBroker, freePort, sleep, tmpDir } = require('./helpers/mosquitto')
const { hasMqttJs, spawnNode, PKG } = require('./helpers/proc')

const fast = { reconnectPeriod: 100, ha: { maxProbeDelay: 300 } }

// Every client a test makes is ended after it, even when an assertion failed on the way.
const open = new Set()
const track = (c) => { open.add(c); return c }
const connect = (...args) => track(mqtt.connect(...args))
test.afterEach(async () => {
  for (const c of open) await (c.endAsync ? c.endAsync(true) : c.close())
  open.clear()
})

async function waitFor (cond, ms, what) {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`)
    await sleep(20)
  }
}

// A port nothing listens on (a broker that is down).
const deadUrl = async () => `mqtt://127.0.0.1:${await freePort()}`

async function subscriber (url, topic) {
  const sub = track(await mqtt.connectAsync(url, fast))
  const got = []
  sub.on('message', (t, payload) => got.push(payload.toString()))
  await sub.subscribeAsync(topic, { qos: 1 })
  return { sub, got }
}

test('publishes made before connect() are stored, counted, and delivered in publish order once connected', async () => {
  const broker = await startBroker()
  try {
    const { got } = await subscriber(broker.url, 'early/#')
    const c = connect(broker.url, { manualConnect: true })
    const events = []
    c.on('connect', () => events.push('connect'))
    const puts = []
    const outcomes = []
    for (let i = 0; i < 30; i++) {
      const qos = i % 3
      c.publish(`early/${i}`, String(i), { qos, cbStorePut: () => puts.push(i) }, (err, packet) => {
        outcomes.push(i)
        assert.ifError(err)
        if (qos > 0) assert.equal(packet.qos, qos)
        else assert.equal(packet, undefined)
      })
    }
    // cbStorePut, as MQTT.js: from publish() itself, for QoS 1/2 only.
    assert.deepEqual(puts, [...Array(30).keys()].filter((i) => i % 3 > 0))
    const s = c.outboxStats()
    assert.equal(s.messages, 30) // queueQoSZero: QoS 0 is stored too
    assert.equal(s.bytes, [...Array(30).keys()].reduce((n, i) => n + `early/${i}`.length + String(i).length, 0))
    assert.ok(s.oldest instanceof Date && s.oldestAge >= 0)
    assert.equal(s.dir, null)
    assert.equal(c.queue.length, 30)
    assert.deepEqual(outcomes, [])
    c.connect()
    await waitFor(() => outcomes.length === 30 && got.length === 30, 15000, () => `30 outcomes (${outcomes.length}) and messages (${got.length})`)
    // MQTT orders the messages of one QoS (a broker passes a QoS 2 message on once its
    // exchange is complete): each QoS's stream in publish order.
    for (const qos of [0, 1, 2]) {
      const mine = (xs) => xs.map(Number).filter((i) => i % 3 === qos)
      assert.deepEqual(mine(got), mine([...Array(30).keys()]), `QoS ${qos} in publish order`)
    }
    assert.equal(events[0], 'connect')
    assert.equal(c.outboxStats().messages, 0)
    assert.equal(c.queue.length, 0)
    assert.equal(c.outboxStats().delivered, 30)
  } finally {
    await broker.stop()
  }
})

test('the outbox is bounded: a full one refuses at once (callback, or an error event), drop-oldest drops, expiry expires', async () => {
  const url = await deadUrl()
  // refuse (the default): the callback gets HAMQTT_ERR_FULL from publish() itself, not stored
  const c = connect(url, { ...fast, ha: { ...fast.ha, outbox: { maxMessages: 3 } } })
  const errors = []
  c.on('error', (e) => { if (e.code === 'HAMQTT_ERR_FULL') errors.push(e) })
  const results = []
  for (let i = 0; i < 3; i++) c.publish('full/x', 'm', { qos: 1 }, (err) => results.push(err ? err.code : 'ok'))
  let put = false
  let sync = null
  c.publish('full/x', 'm', { qos: 1, cbStorePut: () => { put = true } }, (err) => { sync = err })
  assert.equal(sync && sync.code, 'HAMQTT_ERR_FULL', 'the callback runs before publish() returns')
  assert.match(sync.message, /full/)
  assert.equal(put, false)
  c.publish('full/x', 'no callback', { qos: 1 })
  assert.equal(errors.length, 1)
  assert.equal(c.outboxStats().messages, 3)
  assert.deepEqual(results, [])
  // maxBytes likewise
  const b = connect(url, { ...fast, ha: { ...fast.ha, outbox: { maxBytes: 20 } } })
  let bytesErr = null
  b.publish('full/b', '0123456789', { qos: 1 }, () => {})
  b.publish('full/b', '0123456789', { qos: 1 }, (err) => { bytesErr = err })
  assert.equal(bytesErr && bytesErr.code, 'HAMQTT_ERR_FULL')

  // drop-oldest: the oldest waiting message makes room, its callback gets HAMQTT_ERR_DROPPED
  const d = connect(url, { ...fast, ha: { ...fast.ha, outbox: { maxMessages: 2, overflow: 'drop-oldest' } } })
  const dropped = []
  for (let i = 0; i < 5; i++) d.publish('drop/x', String(i), { qos: 1 }, (err) => dropped.push(`${i}:${err ? err.code : 'ok'}`))
  await waitFor(() => dropped.length === 3, 5000, () => `3 dropped (${dropped})`)
  // The oldest waiting go first, in order; the newest stays, and so does the one the engine
  // may already hold for the next broker (being sent is never dropped).
  const which = dropped.map((x) => Number(x.split(':')[0]))
  assert.deepEqual(which, [...which].sort(), String(dropped))
  assert.ok(!which.includes(4), String(dropped))
  assert.ok(dropped.every((x) => x.endsWith(':HAMQTT_ERR_DROPPED')), String(dropped))
  assert.deepEqual({ messages: d.outboxStats().messages, dropped: d.outboxStats().dropped }, { messages: 2, dropped: 3 })

  // expiry: a message no broker took in time fails with HAMQTT_ERR_EXPIRED
  const e = connect(url, { ...fast, ha: { ...fast.ha, outbox: { expiry: 200 } } })
  const expired = await new Promise((resolve) => e.publish('exp/x', 'old', { qos: 1 }, resolve))
  assert.equal(expired.code, 'HAMQTT_ERR_EXPIRED')
  assert.equal(e.outboxStats().expired, 1)
  assert.equal(e.outboxStats().messages, 0)
})

test('end() delivers what the outbox holds first; end(true) fails it with Connection closed and reports what had no callback', async () => {
  const port = await freePort()
  const url = `mqtt://127.0.0.1:${port}`
  const { Broker } = require('./helpers/mosquitto')
  const broker = new Broker(port, tmpDir())
  try {
    // end() during an outage waits for a broker, as MQTT.js waits for its outgoing store
    const c = connect(url, { ...fast, ha: { ...fast.ha, warmUp: -1 } })
    const outcomes = []
    for (let i = 0; i < 20; i++) c.publish('end/x', String(i), { qos: 1 }, (err) => outcomes.push(err ? err.message : 'ok'))
    for (let i = 0; i < 20; i++) c.publish('end/y', String(i), { qos: 1 }) // no callback
    let ended = false
    c.end(() => { ended = true })
    await sleep(300)
    assert.equal(ended, false, 'end() waits while the outbox holds messages')
    await broker.start()
    await waitFor(() => ended, 15000, 'end() once the broker took everything')
    assert.deepEqual(outcomes, Array(20).fill('ok'))

    // end(true): callbacks get Connection closed at once; the others are reported together
    const f = connect(url, fast)
    await new Promise((resolve) => f.once('connect', resolve))
    process.kill(broker.proc.pid, 'SIGSTOP') // frozen: nothing is acknowledged
    try {
      const closed = []
      const errs = []
      f.on('error', (e) => errs.push(e.message))
      for (let i = 0; i < 5; i++) f.publish('end/z', String(i), { qos: 1 }, (err) => closed.push(`${err.code}:${err.message}`))
      for (let i = 0; i < 3; i++) f.publish('end/z', 'x', { qos: 1 })
      await f.endAsync(true)
      assert.deepEqual(closed, Array(5).fill('HAMQTT_ERR_CLOSED:Connection closed'))
      assert.deepEqual(errs.filter((m) => /client disconnecting/.test(m)),
        ['client disconnecting: 3 messages published without a callback, not delivered to a broker, dropped with the memory outbox'])
    } finally {
      process.kill(broker.proc.pid, 'SIGCONT')
    }
  } finally {
    await broker.stop()
  }
})

// A child that publishes `count` QoS 1 messages to a broker that is down, with a disk outbox in
// `dir`, prints STORED <i> for each (cbStorePut), then ALL, and waits to be killed.
const STORER = `
const mqtt = require(${JSON.stringify(PKG)})
const [url, dir, count] = process.argv.slice(-3)
const c = mqtt.connect(url, { reconnectPeriod: 100, ha: { outbox: { dir } } })
c.on('error', () => {})
for (let i = 0; i < Number(count); i++) {
  c.publish('disk/x', String(i), { qos: 1, cbStorePut: () => process.stdout.write('STORED ' + i + '\\n') }, (err) => {
    if (err) process.stdout.write('FAIL ' + i + ' ' + err.code + '\\n')
  })
}
process.stdout.write('ALL\\n')
setInterval(() => {}, 1000)
`

test('a disk outbox outlives kill -9 of its process, has one owner at a time, and is sent in order by the next client', { timeout: 60000 }, async () => {
  const port = await freePort()
  const url = `mqtt://127.0.0.1:${port}`
  const dir = path.join(tmpDir('hamqtt-node-outbox-'), 'outbox')
  const N = 200
  const storer = spawnNode(['-e', STORER, url, dir, String(N)], { timeoutMs: 30000 })
  await storer.waitFor(/^ALL$/m)
  assert.equal((storer.stdout.match(/^STORED /mg) || []).length, N, storer.stdout)
  assert.doesNotMatch(storer.stdout, /FAIL/)
  // The directory has one owner: another client, in this process, is refused.
  assert.throws(() => mqtt.connect(url, { ha: { outbox: { dir } } }), (e) => e.code === 'HAMQTT_ERR_LOCKED' && e.message.includes(dir))
  storer.child.kill('SIGKILL')
  const { signal } = await storer.done
  assert.equal(signal, 'SIGKILL')

  const { Broker } = require('./helpers/mosquitto')
  const broker = new Broker(port, tmpDir())
  await broker.start()
  try {
    const { got } = await subscriber(url, 'disk/#')
    const c = connect(url, { ...fast, manualConnect: true, ha: { ...fast.ha, outbox: { dir } } })
    const errors = []
    c.on('error', (e) => errors.push(e.message))
    const s = c.outboxStats()
    assert.equal(s.messages, N, 'recovered from the disk before connecting')
    assert.equal(s.dir, dir)
    c.connect()
    await waitFor(() => got.length >= N, 20000, () => `${N} messages (got ${got.length})`)
    assert.deepEqual(got.slice(0, N), [...Array(N).keys()].map(String), 'publish order')
    await waitFor(() => c.outboxStats().messages === 0, 10000, 'the outbox emptied')
    await c.endAsync()
    assert.deepEqual(errors, [])
    // end(true) leaves what is not delivered on the disk, for the next client
    const k = connect(url, { ...fast, manualConnect: true, ha: { ...fast.ha, outbox: { dir } } })
    let closedErr = null
    k.publish('disk/x', 'kept', { qos: 1 }, (err) => { closedErr = err })
    await k.endAsync(true)
    assert.equal(closedErr && closedErr.message, 'Connection closed')
    const again = connect(url, { manualConnect: true, ha: { outbox: { dir } } })
    assert.equal(again.outboxStats().messages, 1)
    await again.endAsync(true)
  } finally {
    await broker.stop()
  }
})

test('ha.outbox options are checked, with clear errors', () => {
  const bad = (ha, re, type = TypeError) => assert.throws(() => mqtt.connect('mqtt://127.0.0.1:1', { manualConnect: true, ha }), (e) => {
    assert.ok(e instanceof type || e.code === 'ERR_HAMQTT_UNSUPPORTED', `${e.constructor.name}: ${e.message}`)
    assert.match(e.message, re)
    return true
  })
  bad({ outbox: 'disk' }, /option ha\.outbox must be an object \{ dir, maxMessages/)
  bad({ outbox: false }, /ha\.outbox: false is not supported: the MQTT\.js API always keeps an outbox/)
  bad({ outbox: { folder: '/tmp/x' } }, /unknown option ha\.outbox\.folder \(known: dir, maxMessages/)
  bad({ outbox: { dir: '' } }, /ha\.outbox\.dir must be a directory path/)
  bad({ outbox: { maxMessages: 0 } }, /ha\.outbox\.maxMessages must be an integer from 1 to 2147483647, or -1 for no bound, got 0/, RangeError)
  bad({ outbox: { maxBytes: 1.5 } }, /ha\.outbox\.maxBytes must be an integer/)
  bad({ outbox: { overflow: 'block' } }, /overflow 'block' is not supported: a publish would stop Node's event loop/)
  bad({ outbox: { overflow: 'spill' } }, /ha\.outbox\.overflow must be 'refuse' or 'drop-oldest'/, RangeError)
  bad({ outbox: { sync: 'always' } }, /ha\.outbox\.sync applies to a disk outbox: give ha\.outbox\.dir/)
  bad({ outbox: { dir: '/tmp/x', sync: 'sometimes' } }, /ha\.outbox\.sync must be 'always', 'interval' or 'never'/, RangeError)
  bad({ outbox: { dir: '/tmp/x', syncInterval: 50 } }, /ha\.outbox\.syncInterval applies with ha\.outbox\.sync 'interval'/)
  bad({ outbox: { expiry: -1 } }, /ha\.outbox\.expiry must be from 1 to \d+ ms \(0: never\)/, RangeError)
  bad({ outbox: { qos0: true } }, /ha\.outbox\.qos0 is not an option of the MQTT\.js API: .*queueQoSZero/)
  assert.throws(() => mqtt.connect('mqtt://127.0.0.1:1', { outgoingStore: {} }), /outgoing messages wait in the client's outbox: ha\.outbox\.dir keeps it on disk/)
  const ok = mqtt.connect('mqtt://127.0.0.1:1', { manualConnect: true, ha: { outbox: { dir: tmpDir(), maxMessages: -1, maxBytes: -1, overflow: 'drop-oldest', sync: 'interval', syncInterval: 50, expiry: 0 } } })
  ok.end(true)
  assert.throws(() => new mqtt.HaMqttClient('tcp://127.0.0.1:1', { outbox: 3 }), /option ha\.outbox must be true, false or an object/)
  assert.throws(() => new mqtt.HaMqttClient('tcp://127.0.0.1:1', { outbox: { qos0: 'yes' } }), /ha\.outbox\.qos0 must be a boolean/)
})

test('HaMqttClient with an outbox: publish before connect resolves once delivered, a full outbox rejects at once, outboxStats', async () => {
  const broker = await startBroker()
  try {
    const { got } = await subscriber(broker.url, 'ha/#')
    const uri = `tcp://127.0.0.1:${broker.port}`
    const c = track(new mqtt.HaMqttClient(uri, { outbox: { maxMessages: 5 } }))
    const early = [1, 2, 3].map((i) => c.publish('ha/x', String(i), { qos: 1 }))
    const full = []
    for (let i = 0; i < 3; i++) c.publish('ha/x', 'over', { qos: 1 }).catch((e) => full.push(e.code))
    await sleep(0)
    assert.deepEqual(full, ['HAMQTT_ERR_FULL'])
    assert.equal(c.outboxStats().messages, 5)
    await c.connect()
    const done = await Promise.all(early)
    for (const d of done) assert.ok(Array.isArray(d.endpoints))
    await waitFor(() => got.length === 5, 10000, 'the 5 stored messages')
    assert.deepEqual(got.slice(0, 3), ['1', '2', '3'])
    await waitFor(() => c.outboxStats().messages === 0, 10000, 'the outbox emptied')
    const plain = track(new mqtt.HaMqttClient(uri))
    assert.equal(plain.outboxStats(), null)
  } finally {
    await broker.stop()
  }
})

test('offline publishes, as MQTT.js: cbStorePut from publish() for QoS 1/2, callbacks after the acknowledgement, queueQoSZero', { skip: hasMqttJs() ? false : 'MQTT.js (dev dependency) not installed' }, async () => {
  const broker = await startBroker()
  const run = async (lib) => {
    const log = []
    const c = lib.connect(broker.url, { reconnectPeriod: 100 })
    for (const qos of [0, 1, 2]) {
      c.publish(`cmp/${qos}`, 'x', { qos, cbStorePut: () => log.push(`put${qos}`) }, (err, packet) => {
        log.push(`cb${qos}:${err ? err.message : 'ok'}:${packet ? packet.cmd === 'publish' || packet.cmd === 'pubrel' : packet}`)
      })
    }
    log.push('returned')
    const nq = lib.connect(broker.url, { queueQoSZero: false })
    nq.publish('cmp/nq', 'x', { qos: 0 }, (err) => log.push(`nq:${err ? err.message : 'ok'}`))
    log.push('nq returned')
    await waitFor(() => log.filter((l) => l.startsWith('cb')).length === 3, 10000, 'three callbacks')
    await new Promise((resolve) => c.end(resolve))
    await new Promise((resolve) => nq.end(true, resolve))
    const cbs = log.filter((l) => l.startsWith('cb')).sort()
    return [...log.filter((l) => !l.startsWith('cb')), ...cbs]
  }
  try {
    const ours = await run(mqtt)
    const theirs = await run(require('mqtt'))
    assert.deepEqual(ours, theirs)
    assert.deepEqual(ours, ['put1', 'put2', 'returned', 'nq:No connection to broker', 'nq returned', 'cb0:ok:undefined', 'cb1:ok:true', 'cb2:ok:true'])
  } finally {
    await broker.stop()
  }
})

test('client.queue is read-only and its length follows the outbox', async () => {
  const c = connect(await deadUrl(), fast)
  c.on('error', () => {})
  assert.equal(c.queue.length, 0)
  c.publish('q/x', 'a', { qos: 1 })
  c.publish('q/x', 'b')
  assert.equal(c.queue.length, 2)
  assert.ok(Object.isFrozen(c.queue))
  assert.equal(c.queue[0], undefined)
  await c.endAsync(true)
  assert.equal(c.queue.length, 0)
  assert.equal(c.outboxStats(), null)
})

test("a configured cluster has its configuration file's outbox (or none)", async () => {
  const broker = await startBroker()
  const yaml = (outbox) => ['defaultCluster: gw', 'clusters:', '  - name: gw', ...(outbox ? ['    outbox: {enabled: true}'] : []),
    '    connections:', '      - connection:', `          serverURIs: [tcp://127.0.0.1:${broker.port}]`, ''].join('\n')
  try {
    const { got } = await subscriber(broker.url, 'cfg/#')
    const c = connect({ cluster: 'gw', config: yaml(true), manualConnect: true })
    let put = false
    let acked = null
    c.publish('cfg/x', 'stored', { qos: 1, cbStorePut: () => { put = true } }, (err) => { acked = err || 'ok' })
    assert.equal(put, true)
    assert.equal(c.outboxStats().messages, 1)
    c.connect()
    await waitFor(() => acked !== null && got.length === 1, 10000, 'the stored message delivered')
    assert.equal(acked, 'ok')
    await c.endAsync()
    await mqtt.HaClusters.shutdown()

    const n = connect({ cluster: 'gw', config: yaml(false), manualConnect: true })
    assert.equal(n.outboxStats(), null)
    put = false
    const err = await new Promise((resolve) => n.publish('cfg/x', 'not stored', { qos: 1, cbStorePut: () => { put = true } }, resolve))
    assert.equal(put, false)
    assert.equal(err.code, 'HAMQTT_ERR_STATE')
    assert.match(err.message, /^No connection to broker: the cluster has no outbox/)
    await n.endAsync()
  } finally {
    if (mqtt.HaClusters.isInitialized()) await mqtt.HaClusters.shutdown()
    await broker.stop()
  }
})
