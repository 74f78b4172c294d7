'use strict'
// Publish order and no silent loss across a total outage, as MQTT.js users expect: MQTT.js keeps
// QoS 1/2 messages until a broker acknowledged them and sends them in publish order. hamqtt's
// outbox keeps every message until a broker acknowledged it, however long no broker is live
// (ha.timeToWait does not fail it), and sends the stream in publish order; a publish made while
// older ones wait goes behind them.
const test = require('node:test')
const assert = require('node:assert/strict')
const { mqtt } = require('./helpers/protocol') // HAMQTT_TEST_PROTOCOL=5: over MQTT 5
const { startBrokers, freePort, Broker, tmpDir, sleep } = require('./helpers/mosquitto')

const fast = { reconnectPeriod: 100, ha: { maxProbeDelay: 300 } }

function firstArrivals (got) {
  return [...new Set(got)]
}

async function subscriber (url, topic) {
  const sub = await mqtt.connectAsync(url, { ...fast, ha: { ...fast.ha, dedup: true } })
  const got = []
  sub.on('message', (t, payload) => got.push(Number(payload.toString())))
  await sub.subscribeAsync(topic, { qos: 1 })
  return { sub, got }
}

async function waitFor (cond, ms, what) {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`)
    await sleep(20)
  }
}

test('QoS 1 messages in flight when every broker dies arrive once one is back, in publish order', { timeout: 60000 }, async () => {
  const brokers = await startBrokers(3)
  const url = 'mqtt://' + brokers.map((b) => `127.0.0.1:${b.port}`).join(',')
  const { sub, got } = await subscriber(url, 'order/outage')
  // ha.timeToWait 1 s, much shorter than the outage: it must not fail what the outbox holds.
  const pub = await mqtt.connectAsync(url, { ...fast, ha: { ...fast.ha, timeToWait: 1000 } })
  try {
    const N = 240
    const outcomes = new Array(N).fill(undefined)
    const publish = (i) => pub.publish('order/outage', String(i), { qos: 1 }, (err) => { outcomes[i] = err ? err.message : 'ok' })
    for (let i = 0; i < 40; i++) publish(i)
    // A message a broker acknowledged just before it was killed may never have been passed
    // on (the single-copy window the README states); what this test holds the client to is
    // every message not acknowledged yet when the outage began.
    const ackedBeforeOutage = new Set()
    for (const b of brokers) await b.kill()
    outcomes.forEach((o, i) => { if (o === 'ok') ackedBeforeOutage.add(i) })
    for (let i = 40; i < N; i++) {
      publish(i)
      await sleep(10)
    }
    await sleep(2500)
    assert.ok(outcomes.some((o) => o === undefined), 'some messages wait for a broker')
    assert.deepEqual(outcomes.filter((o) => o !== undefined && o !== 'ok'), [], 'no message failed')
    await brokers[0].start()
    await waitFor(() => outcomes.filter((o) => o !== undefined).length === N, 30000, 'every outcome')
    assert.deepEqual(outcomes.filter((o) => o !== 'ok'), [])
    const owed = [...Array(N).keys()].filter((i) => !ackedBeforeOutage.has(i))
    await waitFor(() => owed.every((i) => got.includes(i)), 20000,
      () => `every message not acknowledged before the outage at the subscriber (missing: ${owed.filter((i) => !got.includes(i)).slice(0, 20)})`)
    const first = firstArrivals(got)
    assert.deepEqual(first, [...first].sort((a, b) => a - b), 'first arrivals in publish order')
  } finally {
    await pub.endAsync(true)
    await sub.endAsync(true)
    for (const b of brokers) await b.stop()
  }
})

test('a publish made while older ones wait in the queue goes behind them', { timeout: 60000 }, async () => {
  // No broker yet: the first publishes wait in the client while it connects; the connection
  // attempt fails (ha.timeToWait) and reconnection goes on; later publishes must not overtake them.
  const port = await freePort()
  const broker = new Broker(port, tmpDir())
  const url = `mqtt://127.0.0.1:${port}`
  const pub = mqtt.connect(url, { ...fast, ha: { ...fast.ha, timeToWait: 300 } })
  const errors = []
  pub.on('error', (err) => errors.push(err.code))
  const outcomes = []
  const publish = (i) => pub.publish('order/queue', String(i), { qos: 1 }, (err) => { outcomes[i] = err ? err.message : 'ok' })
  let sub
  try {
    for (let i = 0; i < 20; i++) publish(i)
    await waitFor(() => errors.length > 0, 5000, 'the failed connection attempt')
    for (let i = 20; i < 40; i++) publish(i)
    await broker.start()
    const s = await subscriber(url, 'order/queue')
    sub = s.sub
    for (let i = 40; i < 60; i++) publish(i)
    await waitFor(() => outcomes.filter((o) => o !== undefined).length === 60, 20000, 'every outcome')
    assert.deepEqual(outcomes.filter((o) => o !== 'ok'), [])
    // The subscriber came after the first messages could have gone out: it sees a suffix of
    // the stream, which must be in order and end with the last message.
    await waitFor(() => s.got.includes(59), 10000, 'the last message')
    const first = firstArrivals(s.got)
    assert.deepEqual(first, [...Array(60).keys()].slice(60 - first.length))
  } finally {
    await pub.endAsync(true)
    if (sub) await sub.endAsync(true)
    await broker.stop()
  }
})
