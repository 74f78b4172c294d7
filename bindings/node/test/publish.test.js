'use strict'
// The publish path's shortcuts hold the same rules as the general path: the topic check's
// fast path (one regular expression for the common strings) against the character-by-character
// rule for every code point; the addon's stack copies of topics and string payloads (up to 251
// and 1019 bytes of UTF-8) against its allocating path, at both sides of each limit, with
// characters of every UTF-8 length across it; and the errors of topics off the fast path.
const test = require('node:test')
const assert = require('node:assert/strict')
const { mqtt } = require('./helpers/protocol') // HAMQTT_TEST_PROTOCOL=5: over MQTT 5
const opt = require('../lib/options')
const { startBroker } = require('./helpers/mosquitto')

test('topic check: the fast path and the character-by-character rule agree on every code point', () => {
  const around = (ch) => [`a/${ch}`, `${ch}${ch}x`]
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    // lone surrogates as such; the others as their string (a surrogate pair above U+FFFF)
    const ch = String.fromCodePoint(cp)
    for (const s of around(ch)) {
      const fast = opt.mqttStringProblem(s)
      const slow = opt.mqttStringProblemByCharacter(s)
      if (fast !== slow) assert.fail(`U+${cp.toString(16)} in ${JSON.stringify(s)}: ${fast} != ${slow}`)
    }
  }
  // what the rule says, and where
  assert.equal(opt.mqttStringProblem('a/b c~'), null)
  assert.equal(opt.mqttStringProblem('é/\u{1f600}/\ufffd'), null)
  assert.match(opt.mqttStringProblem('ab\u0001'), /control character U\+0001 \(at index 2\)/)
  assert.match(opt.mqttStringProblem('\u{1f600}\u0085'), /control character U\+0085 \(at index 2\)/)
  assert.match(opt.mqttStringProblem('a\ud800'), /lone surrogate U\+D800 \(at index 1\)/)
  assert.match(opt.mqttStringProblem('a\u{10ffff}'), /non-character U\+10FFFF \(at index 1\)/)
  assert.match(opt.mqttStringProblem('\u0000'), /NUL character \(at index 0\)/)
})

test('publish topic fast path: only topics both full checks pass', () => {
  for (let c = 0; c < 0x100; c++) {
    const t = `a${String.fromCharCode(c)}b`
    if (!opt.isPlainPublishTopic(t)) continue
    assert.doesNotThrow(() => opt.validatePublishTopic(t), JSON.stringify(t))
    assert.equal(opt.mqttStringProblem(t), null, JSON.stringify(t))
  }
  assert.equal(opt.isPlainPublishTopic('a/b/c d'), true)
  assert.equal(opt.isPlainPublishTopic('x'.repeat(65535)), true)
  for (const t of ['', 'a/+', 'a/#', 'x'.repeat(65536), 'é', 'a\u0000', 'a\u0001', 'a\u007f', 42, null, undefined, ['a']]) {
    assert.equal(opt.isPlainPublishTopic(t), false, JSON.stringify(t))
  }
})

test('publish: topics off the fast path give the errors they always gave', async () => {
  const broker = await startBroker()
  const c = mqtt.connect(broker.url)
  try {
    const tooLong = 'é'.repeat(32768) // 65536 bytes in 32768 characters
    assert.throws(() => c.publish(tooLong, 'x'), (e) => e instanceof RangeError && /publish topic is longer than 65535 bytes/.test(e.message))
    assert.throws(() => c.publish('a\u0000b', 'x'), (e) => e instanceof TypeError && /publish topic "a\\u0000b" contains a NUL character/.test(e.message))
    assert.throws(() => c.publish('é/+', 'x'), (e) => e instanceof TypeError && /publish topic "é\/\+" contains a wildcard/.test(e.message))
    assert.throws(() => c.publish(['a'], 'x'), (e) => e instanceof TypeError && /publish topic must be a string, got an array/.test(e.message))
    // an options error comes before a topic error, as before
    assert.throws(() => c.publish('a/+', 'x', 5), (e) => e instanceof TypeError && /publish options must be an object, got number 5/.test(e.message))
    // null options and a callback in their place take the path without options
    await new Promise((resolve, reject) => c.publish('a', 'x', null, (err) => (err ? reject(err) : resolve())))
    await new Promise((resolve, reject) => c.publish('a', 'x', (err) => (err ? reject(err) : resolve())))
    const err = await new Promise((resolve) => c.publish('é\u0002', 'x', null, resolve))
    assert.equal(err.code, 'HAMQTT_ERR_TOPIC')
    assert.match(err.message, /Invalid topic "é\\u0002": it contains the control character U\+0002 \(at index 1\)/)
  } finally {
    await c.endAsync()
    await broker.stop()
  }
})

test('publish: topics and string payloads on both sides of the addon\'s stack copies arrive intact', async () => {
  const broker = await startBroker()
  const sub = await mqtt.connectAsync(broker.url)
  const pub = await mqtt.connectAsync(broker.url)
  try {
    const got = []
    sub.on('message', (topic, payload) => got.push({ topic, payload }))
    await sub.subscribeAsync('#')
    // topics of 240-270 bytes: ASCII, then 2-, 3- and 4-byte characters across byte 251
    const topics = []
    for (let n = 240; n <= 270; n++) topics.push('t/' + 'a'.repeat(n - 2))
    for (const ch of ['é', '€', '\u{1f600}']) {
      for (let pad = 240; pad <= 256; pad++) topics.push('t/' + 'a'.repeat(pad - 2) + ch + 'z')
    }
    topics.push('t/é/€/\u{1f600}')
    // string payloads of 0-1100 bytes likewise, and with NUL characters (a payload may hold any byte)
    const payloads = ['', 'x', 'a\u0000b\u0000']
    for (let n = 1010; n <= 1030; n++) payloads.push('p'.repeat(n))
    for (const ch of ['é', '€', '\u{1f600}']) {
      for (let pad = 1012; pad <= 1024; pad++) payloads.push('p'.repeat(pad) + ch + 'q')
    }
    payloads.push('€'.repeat(400))
    const sent = []
    for (const t of topics) sent.push({ topic: t, payload: 'x' })
    for (const p of payloads) sent.push({ topic: 't/payload', payload: p })
    for (const m of sent) pub.publish(m.topic, m.payload)
    await pub.publishAsync('t/end', 'end', { qos: 1 })
    const deadline = Date.now() + 10000
    while (got.length < sent.length + 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    assert.equal(got.length, sent.length + 1)
    for (let i = 0; i < sent.length; i++) {
      assert.equal(got[i].topic, sent[i].topic, `message ${i}`)
      assert.deepEqual(got[i].payload, Buffer.from(sent[i].payload), `message ${i} (${Buffer.byteLength(sent[i].payload)} bytes)`)
    }
  } finally {
    await pub.endAsync()
    await sub.endAsync()
    await broker.stop()
  }
})
