'use strict'
// Failover: a broker is SIGKILLed in the middle of a QoS 1 stream and nothing is lost.
//
// The no-loss configuration: the publisher uses the ALL publisher type (every message goes to
// every live broker, and counts as delivered once one acknowledged it), the subscriber is
// subscribed on every broker with de-duplication on (the copies from several brokers are
// delivered once). A broker that dies takes its copies with it; the other brokers' copies arrive.
// The killed broker is restarted on the same port and the stream goes on through it as well.
const test = require('node:test')
const assert = require('node:assert/strict')
const { mqtt } = require('./helpers/protocol') // HAMQTT_TEST_PROTOCOL=5: over MQTT 5
const { startBrokers, sleep } = require('./helpers/mosquitto')

test('a broker SIGKILLed during a QoS 1 stream: every message arrives', { timeout: 90000 }, async (t) => {
  const brokers = await startBrokers(3)
  const url = 'mqtt://' + brokers.map((b) => `127.0.0.1:${b.port}`).join(',')
  // Backoff capped at 1 s, so the restarted broker is found again within the test's wait.
  const sub = await mqtt.connectAsync(url, { reconnectPeriod: 200, ha: { dedup: true, maxProbeDelay: 1000 } })
  const pub = await mqtt.connectAsync(url, { reconnectPeriod: 200, ha: { publisherType: 'ALL', maxProbeDelay: 1000 } })
  try {
    assert.equal(sub.liveEndpoints().length, 3)
    await sub.subscribeAsync('fo/stream', { qos: 1 })

    const N = 3000
    const received = new Set()
    let duplicates = 0
    let allIn
    const complete = new Promise((resolve) => { allIn = resolve })
    sub.on('message', (topic, payload) => {
      const i = Number(payload.toString())
      if (received.has(i)) duplicates++
      received.add(i)
      if (received.size === N) allIn()
    })
    const downs = []
    sub.on('endpointDown', (name) => downs.push(name))

    let acked = 0
    const errors = []
    let sent = 0
    let killed = false
    let restarted = false
    const victim = brokers[0]
    await new Promise((resolve, reject) => {
      const pump = () => {
        while (sent < N && sent - acked - errors.length < 100) {
          const i = sent++
          pub.publish('fo/stream', String(i), { qos: 1 }, (err) => {
            if (err) errors.push(`${i}: ${err.message}`)
            else acked++
            if (acked + errors.length === N) resolve()
          })
        }
        if (!killed && acked >= N / 3) {
          killed = true
          victim.kill().catch(reject) // SIGKILL mid-stream
        }
        if (killed && !restarted && acked >= (2 * N) / 3) {
          restarted = true
          victim.start().catch(reject)
        }
        if (sent < N) setTimeout(pump, 2)
      }
      pump()
    })
    assert.deepEqual(errors, [], 'every publish was acknowledged')
    const timer = setTimeout(() => allIn(), 30000)
    await complete
    clearTimeout(timer)
    const missing = []
    for (let i = 0; i < N && missing.length < 20; i++) if (!received.has(i)) missing.push(i)
    assert.deepEqual(missing, [], `received ${received.size} of ${N}`)
    // The down event travels on its own (the stream may be complete first): wait for it.
    for (let i = 0; i < 100 && downs.length === 0; i++) await sleep(50)
    assert.ok(downs.length >= 1, 'the subscriber saw the broker go down')
    t.diagnostic(`received ${received.size}/${N}, ${duplicates} duplicates, endpoints down: ${downs.join(',')}`)
    // The restarted broker is back in the publisher's cluster.
    for (let i = 0; i < 100 && pub.liveEndpoints().length < 3; i++) await sleep(100)
    assert.equal(pub.liveEndpoints().length, 3)
  } finally {
    await Promise.all([pub.endAsync(true), sub.endAsync(true)])
    for (const b of brokers) await b.stop()
  }
})
