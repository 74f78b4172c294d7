'use strict'
// The native HA API: HaClusters from a YAML file and from YAML text, clients by cluster name,
// publish with the policy and to a named endpoint, live and dead endpoints, endpoint up and down
// events (a broker SIGKILLed and restarted on its port), stats, adding and removing endpoints.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { HaClusters, HaMqttClient } = require('..')
const { startBrokers, sleep, tmpDir } = require('./helpers/mosquitto')

let brokers
test.before(async () => { brokers = await startBrokers(3) })
// Clients made directly are closed after each test, even when an assertion failed on the way.
const open = new Set()
const client = (...args) => { const c = new HaMqttClient(...args); open.add(c); return c }
test.afterEach(async () => {
  for (const c of open) await c.close()
  open.clear()
  if (HaClusters.isInitialized()) await HaClusters.shutdown()
})
test.after(async () => {
  if (HaClusters.isInitialized()) await HaClusters.shutdown()
  for (const b of brokers) await b.stop()
})

// The next `event` whose first argument is `name` (any, when name is undefined).
const once = (emitter, event, ms = 10000, name) => new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error(`no '${event}' ${name || ''} within ${ms} ms`)), ms)
  emitter.on(event, function listener (...args) {
    if (name !== undefined && args[0] !== name) return
    emitter.off(event, listener)
    clearTimeout(t)
    resolve(args)
  })
})

function yaml () {
  const [a, b, c] = brokers
  return [
    'defaultCluster: edge',
    'clusters:',
    '  - name: edge',
    '    probeDelay: 200',
    '    endpoints:',
    '      - name: special',
    `        endpoint: tcp://127.0.0.1:${c.port}`,
    '    connections:',
    '      - connection:',
    `          serverURIs: [tcp://127.0.0.1:${a.port}, tcp://127.0.0.1:${b.port}, tcp://127.0.0.1:${c.port}]`,
    '  - name: core',
    '    publisherType: ROUND_ROBIN',
    '    connections:',
    '      - connection:',
    `          serverURIs: [tcp://127.0.0.1:${a.port}]`,
    ''
  ].join('\n')
}

test('HaClusters from a file: names, clients by name, publish, publishTo, endpoints, stats', async () => {
  const file = path.join(tmpDir('hamqtt-cfg-'), 'mqttv5-client.yaml')
  fs.writeFileSync(file, yaml())
  HaClusters.initialize(file)
  assert.equal(HaClusters.isInitialized(), true)
  assert.deepEqual(HaClusters.clusterNames(), ['edge', 'core'])
  const edge = HaClusters.getHaMqttClient()
  assert.equal(edge, HaClusters.getHaMqttClient('edge'))
  assert.equal(edge.name, 'edge')
  const core = HaClusters.getHaMqttClient('core')
  assert.equal(core.name, 'core')
  assert.throws(() => HaClusters.getHaMqttClient('nope'), (e) => e.code === 'HAMQTT_ERR_NOT_FOUND' && /edge, core/.test(e.message))

  const ups = []
  edge.on('endpointUp', (name) => ups.push(name))
  await HaClusters.connect()
  assert.deepEqual(edge.liveEndpoints().sort(), ['edge-1', 'edge-2', 'special'])
  assert.deepEqual(edge.deadEndpoints(), [])
  await sleep(50)
  assert.deepEqual(ups.sort(), ['edge-1', 'edge-2', 'special'])

  await edge.subscribe('ha/#', { qos: 1 })
  const got = []
  edge.on('message', (topic, payload, m) => got.push({ topic, payload: payload.toString(), endpoint: m.endpoint, qos: m.qos }))
  const r = await edge.publish('ha/policy', 'sticky', { qos: 1 })
  assert.equal(r.endpoints.length, 1)
  await edge.publishTo('special', 'ha/named', 'to special', { qos: 1 })
  for (let i = 0; i < 50 && got.length < 2; i++) await sleep(20)
  assert.deepEqual(got.map((g) => g.topic).sort(), ['ha/named', 'ha/policy'])
  assert.equal(got.find((g) => g.topic === 'ha/named').endpoint, 'special')
  await assert.rejects(edge.publishTo('nope', 'ha/x', 'x'), (e) => e.code === 'HAMQTT_ERR_NOT_FOUND' || e.code === 'HAMQTT_ERR_NO_ENDPOINT')

  const stats = edge.stats()
  assert.deepEqual(stats.map((s) => s.name), ['edge-1', 'edge-2', 'special'])
  for (const s of stats) {
    assert.equal(s.state, 'live')
    assert.ok(s.liveSince instanceof Date)
    assert.match(s.uri, /^tcp:\/\/127\.0\.0\.1:\d+$/)
  }
  assert.ok(stats.reduce((n, s) => n + s.received, 0) >= 2)
  assert.ok(stats.reduce((n, s) => n + s.acked, 0) >= 2)

  await HaClusters.shutdown()
  assert.equal(HaClusters.isInitialized(), false)
  assert.equal(edge.closed, true)
  assert.throws(() => edge.liveEndpoints(), (e) => e.code === 'HAMQTT_ERR_CLOSED')
})

test('endpoint down and up events when a broker is SIGKILLed and restarted', async () => {
  HaClusters.initialize({ yaml: yaml() })
  const edge = HaClusters.getHaMqttClient('edge')
  await edge.connect()
  const victim = brokers[1]
  const down = once(edge, 'endpointDown', 10000, 'edge-2')
  await victim.kill()
  const [name, reason] = await down
  assert.equal(name, 'edge-2')
  assert.equal(typeof reason, 'string')
  assert.deepEqual(edge.deadEndpoints(), ['edge-2'])
  assert.ok(!edge.liveEndpoints().includes('edge-2'))
  const up = once(edge, 'endpointUp', 15000, 'edge-2')
  await victim.start()
  assert.deepEqual(await up, ['edge-2'])
  assert.ok(edge.liveEndpoints().includes('edge-2'))
  await HaClusters.stop()
})

test('HaMqttClient over brokers given directly: addEndpoint, removeEndpoint, disconnect and connect again', async () => {
  const [a, b] = brokers
  const c = client(`tcp://127.0.0.1:${a.port}`, { name: 'adhoc', publisherType: 'ROUND_ROBIN', probeDelay: 200, warmUp: -1 })
  assert.equal(c.name, 'adhoc')
  await c.connect()
  assert.deepEqual(c.liveEndpoints(), ['adhoc-1'])
  const up = once(c, 'endpointUp', 10000, 'second')
  assert.deepEqual(c.addEndpoint(`tcp://127.0.0.1:${b.port}`, 'second'), ['second'])
  assert.deepEqual(await up, ['second'])
  assert.deepEqual(c.liveEndpoints().sort(), ['adhoc-1', 'second'])
  await c.subscribe('adhoc/#', { qos: 1 })
  // ROUND_ROBIN spreads publishes over both endpoints
  const used = new Set()
  for (let i = 0; i < 6; i++) for (const e of (await c.publish('adhoc/rr', String(i), { qos: 1 })).endpoints) used.add(e)
  assert.deepEqual([...used].sort(), ['adhoc-1', 'second'])
  const down = once(c, 'endpointDown', 10000, 'second')
  await c.removeEndpoint('second')
  assert.equal((await down)[0], 'second')
  assert.deepEqual(c.stats().map((s) => s.name), ['adhoc-1'])
  await c.disconnect()
  assert.deepEqual(c.liveEndpoints(), [])
  await c.connect()
  assert.deepEqual(c.liveEndpoints(), ['adhoc-1'])
  const msg = once(c, 'message')
  await c.publish('adhoc/again', 'after reconnect', { qos: 1 })
  const [topic, payload, m] = await msg
  assert.equal(topic, 'adhoc/again')
  assert.equal(payload.toString(), 'after reconnect')
  assert.equal(m.qos, 1)
  await c.unsubscribe('adhoc/#')
  await c.close()
  await c.close() // twice is fine
  assert.equal(c.closed, true)
})

test('publish fails over when the publishing broker dies (STICKY), with no error for the caller', async () => {
  const [a, b] = brokers
  const c = client(`tcp://127.0.0.1:${a.port},tcp://127.0.0.1:${b.port}`, { probeDelay: 200, timeToWait: 5000 })
  await c.connect()
  const first = (await c.publish('fo/x', '1', { qos: 1 })).endpoints[0]
  const victim = first === 'cluster-default-1' ? a : b
  await victim.kill()
  const r = await c.publish('fo/x', '2', { qos: 1 })
  assert.notEqual(r.endpoints[0], first)
  await c.close()
  await victim.start()
})

test('shareConnections: two clusters on one connection each receive only their own messages', async () => {
  const [a] = brokers
  const uri = `tcp://127.0.0.1:${a.port}`
  // One client id for both: two connections would take the session from each other (the broker
  // drops the older one), so both stay up only if they really share one.
  const opts = { shareConnections: true, clientId: 'node-shared', probeDelay: 200 }
  const x = client(uri, { ...opts, name: 'sx' })
  const y = client(uri, { ...opts, name: 'sy' })
  const pub = client(uri, { name: 'spub' })
  const got = { sx: [], sy: [] }
  const downs = []
  for (const c of [x, y]) {
    c.on('message', (topic) => got[c.name].push(topic))
    c.on('endpointDown', (name) => downs.push(name))
    await c.connect()
    await c.subscribe(c.name + '/#', { qos: 1 })
    await c.subscribe('end', { qos: 1 })
  }
  await pub.connect()
  const ends = [once(x, 'message', 10000, 'end'), once(y, 'message', 10000, 'end')]
  for (let i = 0; i < 3; i++) {
    await pub.publish('sx/t', 'x', { qos: 1 })
    await pub.publish('sy/t', 'y', { qos: 1 })
  }
  await pub.publish('end', '', { qos: 1 })
  await Promise.all(ends)
  assert.deepEqual(got.sx, ['sx/t', 'sx/t', 'sx/t', 'end'])
  assert.deepEqual(got.sy, ['sy/t', 'sy/t', 'sy/t', 'end'])
  assert.deepEqual(downs, [])
})

test('MQTT 5 (protocolVersion: 5): publish and publishTo carry message properties; a cluster on MQTT 3.1.1 refuses them', async () => {
  const [a] = brokers
  const uri = `tcp://127.0.0.1:${a.port}`
  const sub = client(uri, { protocolVersion: 5 })
  const pub = client(uri, { protocolVersion: 5 })
  await sub.connect()
  await pub.connect()
  await sub.subscribe('ha5/#', { qos: 1 })
  const got = []
  sub.on('message', (topic, payload, m) => got.push({ topic, properties: m.properties }))
  const props = { contentType: 'text/plain', correlationData: Buffer.from('c1'), userProperties: { via: 'ha', many: ['1', '2'] } }
  await pub.publish('ha5/policy', 'x', { qos: 1, properties: props })
  const [endpoint] = pub.liveEndpoints()
  await pub.publishTo(endpoint, 'ha5/to', 'y', { qos: 1, properties: { ...props, responseTopic: 'ha5/reply' } })
  for (let i = 0; i < 200 && got.length < 2; i++) await sleep(10)
  got.sort((x, y) => x.topic.localeCompare(y.topic))
  assert.deepEqual(got.map((g) => g.topic), ['ha5/policy', 'ha5/to'])
  for (const g of got) {
    assert.equal(g.properties.contentType, 'text/plain')
    assert.deepEqual(g.properties.correlationData, Buffer.from('c1'))
    assert.deepEqual({ ...g.properties.userProperties }, { via: 'ha', many: ['1', '2'] })
  }
  assert.equal(got[1].properties.responseTopic, 'ha5/reply')

  assert.throws(() => pub.publish('ha5/x', 'x', { properties: { subscriptionIdentifier: 1 } }), /never sends a Subscription Identifier/)
  assert.throws(() => client(uri, { protocolVersion: 3 }), RangeError)
  const v3 = client(uri)
  await v3.connect()
  await assert.rejects(v3.publish('ha5/x', 'x', { properties: { contentType: 'a' } }), (e) => e.code === 'HAMQTT_ERR_INVALID')
  await assert.rejects(v3.publishTo(v3.liveEndpoints()[0], 'ha5/x', 'x', { properties: { contentType: 'a' } }), (e) => e.code === 'HAMQTT_ERR_INVALID')
})
