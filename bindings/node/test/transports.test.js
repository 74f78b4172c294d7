'use strict'
// mqtts:// and ssl:// to a Mosquitto TLS listener (MQTT.js's ca/cert/key options as PEM text,
// rejectUnauthorized), and ws:// / wss:// through a WebSocket-to-TCP bridge in front of
// Mosquitto (this Mosquitto build cannot open a websockets listener on 127.0.0.1; the bridge is
// made with `ws`, which MQTT.js, a devDependency, brings along). Certificates are made here with
// openssl for 127.0.0.1.
const test = require('node:test')
const assert = require('node:assert/strict')
const cp = require('node:child_process')
const fs = require('node:fs')
const http = require('node:http')
const https = require('node:https')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const mqtt = require('..')
const { startBroker, freePort } = require('./helpers/mosquitto')
const { PKG } = require('./helpers/proc')

let dir, pki
function openssl (...args) {
  const r = cp.spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`)
}
const hasOpenssl = cp.spawnSync('openssl', ['version']).status === 0

function makePki () {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hamqtt-pki-'))
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=hamqtt test CA')
  fs.writeFileSync(path.join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n')
  openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1')
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext')
  fs.writeFileSync(path.join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n')
  openssl('req', ...ec, '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=hamqtt-client')
  openssl('x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.pem', '-days', '2', '-extfile', 'client.ext')
  // Mosquitto started as root drops to its own user: let it read the files (test material).
  fs.chmodSync(dir, 0o755)
  for (const f of fs.readdirSync(dir)) fs.chmodSync(path.join(dir, f), 0o644)
  const read = (f) => fs.readFileSync(path.join(dir, f))
  return { ca: read('ca.pem'), cert: read('client.pem'), key: read('client.key'), serverCert: read('server.pem'), serverKey: read('server.key') }
}

// Every client a test makes is ended after it, even when an assertion failed on the way.
const open = new Set()
const connectAsync = async (...args) => { const c = await mqtt.connectAsync(...args); open.add(c); return c }
test.afterEach(async () => {
  for (const c of open) await c.endAsync(true)
  open.clear()
})

async function roundTrip (client, topic) {
  await client.subscribeAsync(topic, { qos: 1 })
  const got = new Promise((resolve) => client.once('message', (t, p) => resolve(`${t} ${p}`)))
  await client.publishAsync(topic, 'secret', { qos: 1 })
  assert.equal(await got, `${topic} secret`)
}

test('mqtts:// and ssl:// with ca/cert/key as PEM (MQTT.js options), mutual TLS', { skip: !hasOpenssl && 'no openssl' }, async () => {
  pki = makePki()
  const broker = await startBroker([
    `cafile ${path.join(dir, 'ca.pem')}`,
    `certfile ${path.join(dir, 'server.pem')}`,
    `keyfile ${path.join(dir, 'server.key')}`,
    'require_certificate true'
  ])
  try {
    const c1 = await connectAsync(`mqtts://127.0.0.1:${broker.port}`, { ca: pki.ca, cert: pki.cert, key: pki.key })
    await roundTrip(c1, 'tls/1')
    await c1.endAsync()
    // PEM as strings, ssl:// scheme, ca as an array
    const c2 = await connectAsync(`ssl://127.0.0.1:${broker.port}`, { ca: [pki.ca.toString()], cert: pki.cert.toString(), key: pki.key.toString() })
    await roundTrip(c2, 'tls/2')
    await c2.endAsync()
    // without the CA the server is not trusted: the connection fails and the error says why
    await assert.rejects(mqtt.connectAsync(`mqtts://127.0.0.1:${broker.port}`, { cert: pki.cert, key: pki.key, ha: { timeToWait: 1500 } }, false),
      (e) => e.code === 'HAMQTT_ERR_NO_ENDPOINT' && /certificate/i.test(e.message))
    // rejectUnauthorized: false skips the server check
    const c3 = await connectAsync(`mqtts://127.0.0.1:${broker.port}`, { cert: pki.cert, key: pki.key, rejectUnauthorized: false })
    await roundTrip(c3, 'tls/3')
    await c3.endAsync()
    // the PEM material went to the library in memory: nothing was written to disk
    const left = fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith('hamqtt-tls-'))
    assert.deepEqual(left, [])
  } finally {
    await broker.stop()
  }
})

// A WebSocket server that forwards each connection's binary frames to Mosquitto over TCP.
function wsBridge (server, brokerPort) {
  const { WebSocketServer } = require(require.resolve('ws', { paths: [path.join(PKG, 'node_modules', 'mqtt')] }))
  const wss = new WebSocketServer({ server, handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : false) })
  let connections = 0
  wss.on('connection', (ws, req) => {
    connections++
    ws.path = req.url
    const tcp = net.connect({ host: '127.0.0.1', port: brokerPort })
    ws.on('message', (data) => tcp.write(data))
    tcp.on('data', (d) => ws.send(d))
    const close = () => { tcp.destroy(); ws.terminate() }
    ws.on('close', close)
    ws.on('error', close)
    tcp.on('close', close)
    tcp.on('error', close)
  })
  return { wss, count: () => connections }
}

function hasWs () {
  try {
    require.resolve('ws', { paths: [path.join(PKG, 'node_modules', 'mqtt')] })
    return true
  } catch { return false }
}

test('ws:// and wss:// (with path) through a WebSocket bridge', { skip: (!hasWs() && 'ws not installed (install devDependencies)') || (!hasOpenssl && 'no openssl') }, async () => {
  if (!pki) pki = makePki()
  const broker = await startBroker()
  const wsPort = await freePort()
  const wssPort = await freePort()
  const plain = http.createServer()
  const secure = https.createServer({ cert: pki.serverCert, key: pki.serverKey })
  const b1 = wsBridge(plain, broker.port)
  const b2 = wsBridge(secure, broker.port)
  await new Promise((resolve) => plain.listen(wsPort, '127.0.0.1', resolve))
  await new Promise((resolve) => secure.listen(wssPort, '127.0.0.1', resolve))
  try {
    const c1 = await connectAsync(`ws://127.0.0.1:${wsPort}/mqtt`)
    assert.equal(c1.options.endpoints, `ws://127.0.0.1:${wsPort}/mqtt`)
    await roundTrip(c1, 'ws/1')
    await c1.endAsync()
    assert.ok(b1.count() >= 1)
    const c2 = await connectAsync(`wss://127.0.0.1:${wssPort}/mqtt`, { ca: pki.ca })
    await roundTrip(c2, 'ws/2')
    await c2.endAsync()
    assert.ok(b2.count() >= 1)
    // a virtual cluster mixing transports (two brokers: one client id per broker)
    const other = await startBroker()
    try {
      const c3 = await connectAsync(`ws://127.0.0.1:${wsPort}/mqtt,tcp://127.0.0.1:${other.port}`)
      for (let i = 0; i < 100 && c3.liveEndpoints().length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 50))
      assert.equal(c3.liveEndpoints().length, 2)
      await c3.endAsync()
    } finally {
      await other.stop()
    }
  } finally {
    b1.wss.close()
    b2.wss.close()
    plain.close()
    secure.close()
    plain.closeAllConnections?.()
    secure.closeAllConnections?.()
    await broker.stop()
  }
})

test.after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }) })
