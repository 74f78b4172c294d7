'use strict'
// What users trust the client with: TLS verification as they expect it, values MQTT cannot
// carry refused instead of changed, secrets kept out of every output, and topics brokers drop
// the connection for refused before anything is sent. Real Mosquitto brokers (a TLS listener
// with certificates made here by openssl for a host the tests do not dial).
const test = require('node:test')
const assert = require('node:assert/strict')
const cp = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const util = require('node:util')
const mqtt = require('..')
const { startBroker } = require('./helpers/mosquitto')

const SECRET = 'SECRET-pw-4711'
const hasOpenssl = cp.spawnSync('openssl', ['version']).status === 0
const ERR = (type, re) => (err) => {
  assert.ok(err instanceof type, `expected ${type.name}, got ${err && err.constructor.name}: ${err && err.message}`)
  assert.match(err.message, re)
  return true
}

const open = new Set()
const track = (c) => { open.add(c); return c }
test.afterEach(async () => {
  for (const c of open) {
    if (typeof c.endAsync === 'function') await c.endAsync(true)
    else await c.close()
  }
  open.clear()
})

// Process warnings emitted while fn runs.
async function warningsDuring (fn) {
  const seen = []
  const on = (w) => seen.push(w)
  process.on('warning', on)
  try {
    await fn()
    await new Promise((resolve) => setImmediate(resolve))
  } finally {
    process.off('warning', on)
  }
  return seen
}

let dir
function makePki () {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hamqtt-trust-pki-'))
  const openssl = (...args) => {
    const r = cp.spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`)
  }
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  for (const name of ['ca', 'other']) openssl('req', '-x509', ...ec, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=hamqtt test ${name}`)
  fs.writeFileSync(path.join(dir, 'server.ext'), 'subjectAltName=DNS:broker.invalid\nextendedKeyUsage=serverAuth\n')
  openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=broker.invalid')
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext')
  fs.chmodSync(dir, 0o755)
  for (const f of fs.readdirSync(dir)) fs.chmodSync(path.join(dir, f), 0o644)
  return { ca: fs.readFileSync(path.join(dir, 'ca.pem')), other: fs.readFileSync(path.join(dir, 'other.pem')) }
}
test.after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }) })

async function roundTrip (client, topic) {
  await client.subscribeAsync(topic, { qos: 1 })
  const got = new Promise((resolve) => client.once('message', (t) => resolve(t)))
  await client.publishAsync(topic, 'x', { qos: 1 })
  assert.equal(await got, topic)
}

test('TLS: the host name check alone can be skipped, the chain is still verified; switches that relax verification warn', { skip: !hasOpenssl && 'no openssl' }, async () => {
  const pki = makePki()
  const broker = await startBroker([`certfile ${path.join(dir, 'server.pem')}`, `keyfile ${path.join(dir, 'server.key')}`])
  const url = `mqtts://127.0.0.1:${broker.port}`
  const fast = { timeToWait: 1500 }
  try {
    // full verification: the certificate names broker.invalid, not 127.0.0.1
    await assert.rejects(mqtt.connectAsync(url, { ca: pki.ca, ha: fast }, false), (e) => e.code === 'HAMQTT_ERR_NO_ENDPOINT' && /certificate/i.test(e.message))
    // host name check skipped: connects with the trusted CA ...
    let c
    const w1 = await warningsDuring(async () => { c = track(await mqtt.connectAsync(url, { ca: pki.ca, ha: { tlsSkipHostnameCheck: true } })) })
    await roundTrip(c, 'trust/tls/1')
    assert.ok(w1.some((w) => w.code === 'HAMQTT_TLS_HOSTNAME_CHECK_OFF' && /host name verification is off/.test(w.message)), util.inspect(w1))
    // ... and not with another CA: the chain is verified
    await assert.rejects(mqtt.connectAsync(url, { ca: pki.other, ha: { ...fast, tlsSkipHostnameCheck: true } }, false), (e) => e.code === 'HAMQTT_ERR_NO_ENDPOINT' && /certificate/i.test(e.message))
    // rejectUnauthorized: false turns every check off, as in Node's tls, with a warning
    let d
    const w2 = await warningsDuring(async () => { d = track(await mqtt.connectAsync(url, { ca: pki.other, rejectUnauthorized: false })) })
    await roundTrip(d, 'trust/tls/2')
    assert.ok(w2.some((w) => w.code === 'HAMQTT_TLS_VERIFICATION_OFF' && /verification is OFF/.test(w.message)), util.inspect(w2))
    // protocol: 'mqtts' with a host, as MQTT.js: TLS
    const e = track(await mqtt.connectAsync({ host: '127.0.0.1', port: broker.port, protocol: 'mqtts', ca: pki.ca, ha: { tlsSkipHostnameCheck: true } }))
    assert.equal(e.options.endpoints, url)
    await roundTrip(e, 'trust/tls/3')
  } finally {
    await broker.stop()
  }
})

test('TLS: material for plain endpoints is refused, rejectUnauthorized alone is ignored there (as MQTT.js)', async () => {
  const broker = await startBroker()
  try {
    assert.throws(() => mqtt.connect(broker.url, { ca: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' }),
      (e) => e.code === 'HAMQTT_ERR_CONFIG')
    assert.throws(() => mqtt.connect(broker.url, { ha: { tlsSkipHostnameCheck: true } }), (e) => e.code === 'HAMQTT_ERR_CONFIG' && /no endpoint uses TLS/.test(e.message))
    assert.throws(() => new mqtt.HaMqttClient(`tcp://127.0.0.1:${broker.port}`, { tlsInsecure: true }), (e) => e.code === 'HAMQTT_ERR_CONFIG' && /no endpoint uses TLS/.test(e.message))
    let c
    const w = await warningsDuring(async () => { c = track(await mqtt.connectAsync(broker.url, { rejectUnauthorized: false })) })
    await roundTrip(c, 'trust/plain')
    assert.deepEqual(w.filter((x) => /^HAMQTT_TLS/.test(x.code || '')), [])
  } finally {
    await broker.stop()
  }
})

test('values MQTT cannot carry are refused with the limit named', () => {
  const big = 'x'.repeat(65536)
  const u = 'mqtt://127.0.0.1:1'
  assert.throws(() => mqtt.connect(u, { keepalive: 65536 }), ERR(RangeError, /65535/))
  assert.throws(() => mqtt.connect(u, { keepalive: 65537 }), ERR(RangeError, /65535/))
  assert.throws(() => mqtt.connect(u, { ha: { keepAlive: 65536000 } }), ERR(RangeError, /65535000/))
  assert.throws(() => mqtt.connect(u, { ha: { keepAlive: 500 } }), ERR(RangeError, /whole number of seconds/))
  assert.throws(() => mqtt.connect(u, { clientId: big }), ERR(RangeError, /clientId is 65536 bytes long: MQTT allows at most 65535/))
  assert.throws(() => mqtt.connect(u, { clientId: 'a\u0001b' }), ERR(TypeError, /control character U\+0001/))
  assert.throws(() => mqtt.connect(u, { clientId: 'a\uffff' }), ERR(TypeError, /non-character U\+FFFF/))
  assert.throws(() => mqtt.connect(u, { clientId: 'a\ud800' }), ERR(TypeError, /surrogate/))
  assert.throws(() => mqtt.connect(u, { username: big }), ERR(RangeError, /username is 65536 bytes long/))
  assert.throws(() => mqtt.connect(u, { username: 'al\u007fice' }), ERR(TypeError, /control character/))
  assert.throws(() => mqtt.connect(u, { username: 'a', password: big }), (e) => e instanceof RangeError && /password is 65536 bytes long/.test(e.message) && !e.message.includes('xxxx'))
  assert.throws(() => mqtt.connect(u, { will: { topic: 'w', payload: Buffer.alloc(65536) } }), ERR(RangeError, /65535 for a will/))
  assert.throws(() => mqtt.connect(u, { will: { topic: 'w\u0001', payload: 'x' } }), ERR(TypeError, /control character/))
  assert.throws(() => new mqtt.HaMqttClient('tcp://127.0.0.1:1', { clientId: 'a\u0001' }), ERR(TypeError, /control character/))
  assert.throws(() => new mqtt.HaMqttClient('tcp://127.0.0.1:1', { password: big }), ERR(RangeError, /65535/))
  assert.throws(() => new mqtt.HaMqttClient('tcp://127.0.0.1:1', { keepAlive: 65536000 }), ERR(RangeError, /65535/))
  for (const bad of [Infinity, -Infinity, 1e300]) {
    assert.throws(() => new mqtt.HaMqttClient('tcp://127.0.0.1:1', { connectRate: bad }), ERR(RangeError, /connectRate must be a finite number/))
  }
  // the limits themselves are fine
  const ok = mqtt.connect(u, { keepalive: 65535, clientId: 'x'.repeat(65535), manualConnect: true, will: { topic: 'w', payload: Buffer.alloc(65535) } })
  ok.end(true)
})

test('passwords show in no output: errors, events, warnings, util.inspect', async () => {
  const broker = await startBroker()
  const out = []
  const onWarning = (w) => out.push(String(w), w.stack || '')
  process.on('warning', onWarning)
  try {
    // in the URL, as MQTT.js allows
    const c = track(await mqtt.connectAsync(`mqtt://alice:${SECRET}@127.0.0.1:${broker.port}`))
    for (const ev of ['error', 'offline', 'close', 'disconnect', 'end']) c.on(ev, (...a) => out.push(util.inspect(a)))
    await roundTrip(c, 'trust/secret')
    out.push(util.inspect(c), util.inspect(c, { depth: null }), String(c))
    assert.equal(c.options.password, SECRET) // kept for the program, as MQTT.js does
    // as an option, to a broker that is down
    await assert.rejects(mqtt.connectAsync(`mqtt://127.0.0.1:1`, { username: 'bob', password: SECRET, ha: { timeToWait: 500 } }, false),
      (e) => { out.push(e.message, e.stack, util.inspect(e)); return true })
    // in URLs that are refused
    for (const bad of [`foo://alice:${SECRET}@127.0.0.1`, `mqtt://alice:${SECRET}@127.0.0.1:99999`, `mqtt://alice:${SECRET}@127.0.0.1:1x`,
      `mqtt://${SECRET}@127.0.0.1:1-99999`]) {
      assert.throws(() => mqtt.connect(bad), (e) => { out.push(e.message, util.inspect(e)); return true })
    }
    assert.throws(() => new mqtt.HaMqttClient(`tcp://alice:${SECRET}@127.0.0.1:${broker.port}`), (e) => { out.push(e.message); return e.code === 'HAMQTT_ERR_CONFIG' })
    // the native API
    const h = track(new mqtt.HaMqttClient(`tcp://127.0.0.1:${broker.port},tcp://127.0.0.1:1`, { username: 'alice', password: SECRET, timeToWait: 1000 }))
    h.on('error', (e) => out.push(util.inspect(e)))
    h.on('endpointDown', (...a) => out.push(util.inspect(a)))
    await h.connect()
    await h.publish('trust/secret/ha', 'x', { qos: 1 })
    out.push(util.inspect(h), util.inspect(h.stats()))
  } finally {
    process.off('warning', onWarning)
    await broker.stop()
  }
  assert.ok(out.length > 10)
  assert.deepEqual(out.filter((s) => String(s).includes(SECRET)), [])
})

const POISON = ['a\u0001b', 'a/\u001f', 'a\u007f', 'a\u0085', 'a\uffff', 'a\ufdd0', 'a\u{1fffe}']

test('topics brokers drop the connection for are refused before anything is sent, at any QoS', async () => {
  const broker = await startBroker()
  try {
    // not connected: refused, not queued
    const off = mqtt.connect(broker.url, { manualConnect: true })
    for (const t of POISON) {
      await assert.rejects(off.publishAsync(t, 'x', { qos: 1 }), (e) => e.code === 'HAMQTT_ERR_TOPIC' && /Invalid topic/.test(e.message))
    }
    off.end(true)
    const c = track(await mqtt.connectAsync(broker.url))
    const got = []
    const drops = []
    c.on('message', (t) => got.push(t))
    c.on('offline', () => drops.push('offline'))
    c.on('close', () => drops.push('close'))
    await c.subscribeAsync('#', { qos: 1 })
    for (const t of POISON) {
      for (const qos of [0, 1, 2]) {
        const err = await new Promise((resolve) => c.publish(t, 'x', { qos }, resolve))
        assert.ok(err instanceof Error && err.code === 'HAMQTT_ERR_TOPIC', `publish ${JSON.stringify(t)} qos ${qos}: ${err}`)
        assert.match(err.message, /Invalid topic .*U\+/)
        await assert.rejects(c.publishAsync(t, 'x', { qos }), (e) => e.code === 'HAMQTT_ERR_TOPIC')
      }
      await assert.rejects(c.subscribeAsync(t), (e) => e.code === 'HAMQTT_ERR_TOPIC')
      await assert.rejects(c.unsubscribeAsync(t), (e) => e.code === 'HAMQTT_ERR_TOPIC')
    }
    // no callback: an 'error' listener gets it
    const errs = []
    c.on('error', (e) => errs.push(e))
    c.publish('a\u0001', 'x')
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(errs.length, 1)
    assert.equal(errs[0].code, 'HAMQTT_ERR_TOPIC')
    await c.publishAsync('trust/after', 'ok', { qos: 1 })
    for (let i = 0; i < 100 && got.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20))
    assert.equal(got[0], 'trust/after') // nothing reached the broker before it
    assert.deepEqual(drops, []) // and the connection was never dropped
    // the native API
    const h = track(new mqtt.HaMqttClient(`tcp://127.0.0.1:${broker.port}`))
    await h.connect()
    for (const t of POISON) {
      for (const qos of [0, 1]) await assert.rejects(async () => h.publish(t, 'x', { qos }), (e) => e.code === 'HAMQTT_ERR_TOPIC')
      await assert.rejects(async () => h.subscribe(t), (e) => e.code === 'HAMQTT_ERR_TOPIC')
    }
  } finally {
    await broker.stop()
  }
})
