'use strict'
// MQTT.js programs (test/examples/, written like the examples of MQTT.js's README) run with only
// the require line and the address changed: against a virtual cluster of two Mosquitto brokers
// with hamqtt, and against one of them with MQTT.js itself when it is installed (a
// devDependency). Both must print the same and exit by themselves once the client ended.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { startBrokers } = require('./helpers/mosquitto')
const { appDir, hasMqttJs, spawnNode } = require('./helpers/proc')

const EXAMPLES = path.join(__dirname, 'examples')
const REQUIRE_LINE = 'const mqtt = require("mqtt");'
const ADDRESS = '"mqtt://127.0.0.1:1883"'

let brokers, dir
test.before(async () => {
  brokers = await startBrokers(2)
  dir = appDir()
})
test.after(async () => {
  for (const b of brokers) await b.stop()
  fs.rmSync(dir, { recursive: true, force: true })
})

// The example with the require line and the address replaced, and nothing else.
function variant (name, lib, address) {
  const text = fs.readFileSync(path.join(EXAMPLES, name), 'utf8')
  assert.ok(text.includes(REQUIRE_LINE) && text.includes(ADDRESS), `${name} has the require line and the address`)
  const out = text.replace(REQUIRE_LINE, `const mqtt = require("${lib}");`).replace(ADDRESS, JSON.stringify(address))
  const before = text.split('\n')
  const after = out.split('\n')
  assert.equal(before.length, after.length)
  const changed = before.filter((l, i) => l !== after[i])
  assert.ok(changed.length <= 2, `only the require line and the address differ: ${changed}`)
  const file = path.join(dir, `${lib}-${name}`)
  fs.writeFileSync(file, out)
  return file
}

function addresses () {
  const [a, b] = brokers
  return {
    hamqtt: `mqtt://127.0.0.1:${a.port},127.0.0.1:${b.port}`, // a virtual cluster
    mqtt: `mqtt://127.0.0.1:${a.port}`
  }
}

const libs = () => (hasMqttJs() ? ['hamqtt', 'mqtt'] : ['hamqtt'])

async function runAlone (name) {
  const out = {}
  for (const lib of libs()) {
    const r = await spawnNode(variant(name, lib, addresses()[lib]), { cwd: dir, timeoutMs: 20000 }).done
    assert.equal(r.signal, null, `${lib} ${name} was killed: it did not exit by itself\n${r.stdout}\n${r.stderr}`)
    assert.equal(r.code, 0, `${lib} ${name} exit code\n${r.stderr}`)
    out[lib] = r.stdout
  }
  return out
}

test('README example (subscribe, publish, receive) on a virtual cluster', async () => {
  const out = await runAlone('both.js')
  assert.equal(out.hamqtt, 'Hello mqtt\n')
  if (out.mqtt !== undefined) assert.equal(out.hamqtt, out.mqtt)
})

test('README async/await example on a virtual cluster', async () => {
  const out = await runAlone('async.js')
  assert.equal(out.hamqtt, 'granted [{"topic":"test/async","qos":1}]\ntest/async It works!\nDone\n')
  if (out.mqtt !== undefined) assert.equal(out.hamqtt, out.mqtt)
})

test('simple subscriber and simple publisher, as two programs', async () => {
  const out = {}
  for (const lib of libs()) {
    const addr = addresses()[lib]
    const sub = spawnNode(variant('subscribe.js', lib, addr), { cwd: dir, timeoutMs: 20000 })
    await sub.waitFor(/^subscribed /m)
    const pub = await spawnNode(variant('publish.js', lib, addr), { cwd: dir, timeoutMs: 20000 }).done
    assert.equal(pub.code, 0, `${lib} publisher\n${pub.stderr}`)
    assert.equal(pub.stdout, 'published 5\n')
    const r = await sub.done
    assert.equal(r.signal, null, `${lib} subscriber did not exit by itself\n${r.stdout}\n${r.stderr}`)
    assert.equal(r.code, 0, `${lib} subscriber\n${r.stderr}`)
    out[lib] = r.stdout
  }
  assert.equal(out.hamqtt, 'subscribed example/#@1\n' +
    [1, 2, 3, 4, 5].map((i) => `example/news news ${i} 1\n`).join(''))
  if (out.mqtt !== undefined) assert.equal(out.hamqtt, out.mqtt)
})

test('the hamqtt subscriber receives what MQTT.js publishes to one broker of its cluster', { skip: !hasMqttJs() && 'MQTT.js not installed' }, async () => {
  const [, b] = brokers
  const sub = spawnNode(variant('subscribe.js', 'hamqtt', addresses().hamqtt), { cwd: dir, timeoutMs: 20000 })
  await sub.waitFor(/^subscribed /m)
  const pub = await spawnNode(variant('publish.js', 'mqtt', `mqtt://127.0.0.1:${b.port}`), { cwd: dir, timeoutMs: 20000 }).done
  assert.equal(pub.code, 0, pub.stderr)
  const r = await sub.done
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /example\/news news 5 1\n$/)
})
