'use strict'
// Churn trials of MQTT.js programs on hamqtt through the project's harness (internal/cmd/churn).
//
// The harness starts three Mosquitto brokers on free 127.0.0.1 ports, runs test/churn_client.js
// as subscriber and publisher (an MQTT.js program with its require swapped) and SIGKILLs and
// restarts the brokers while 1500 QoS 1 messages flow at 100 msg/s:
//   churn   one broker down at a time; nothing acknowledged may be lost;
//   outage  every broker down for 8 s while the publisher goes on publishing; nothing the API
//           reported acknowledged or queued may be lost, and the stream's order must hold for
//           the default (STICKY) publisher; ALL promises order per broker only (a dedup
//           subscriber takes each message's first copy from whichever broker is first).
// HAMQTT_CHURN_SEED picks another seed (the harness prints it; -seed replays it).
const test = require('node:test')
const assert = require('node:assert/strict')
const cp = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { tmpDir } = require('./helpers/mosquitto')
const { appDir } = require('./helpers/proc')

const ROOT = path.resolve(__dirname, '..', '..', '..')
const CLIENT = path.join(__dirname, 'churn_client.js')
const SEED = process.env.HAMQTT_CHURN_SEED || '1'
const GO = process.env.GO || (fs.existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : 'go')
const HAVE_HARNESS = fs.existsSync(path.join(ROOT, 'internal', 'cmd', 'churn', 'main.go'))

let harness, app
test.before(() => {
  if (!HAVE_HARNESS) return
  harness = path.join(tmpDir('hamqtt-node-churn-'), 'churn')
  const r = cp.spawnSync(GO, ['build', '-o', harness, './internal/cmd/churn'], { cwd: ROOT, encoding: 'utf8', timeout: 300000 })
  assert.equal(r.status, 0, `go build ./internal/cmd/churn: ${r.error || ''}${r.stderr}`)
  app = appDir() // require('hamqtt') resolves there, as in an application
})

const quote = (s) => `'${s.replace(/'/g, "'\\''")}'`

function trial (config, schedule, checkOrder) {
  const dir = tmpDir('hamqtt-node-churn-trial-')
  const json = path.join(dir, 'result.jsonl')
  const client = `NODE_PATH=${quote(path.join(app, 'node_modules'))} ${quote(process.execPath)} ${quote(CLIENT)}`
  const args = ' --brokers {brokers} --topic {topic} --count {count} --rate {rate} --config {config}'
  const argv = ['-pub', `${client} pub${args}`, '-sub', `${client} sub${args}`, '-config', config, '-schedule', schedule,
    '-outage', '8s', '-seed', SEED, '-count', '1500', '-rate', '100', '-label', 'node', '-json', json, '-logdir', dir]
  if (checkOrder) argv.push('-check-order')
  return new Promise((resolve, reject) => {
    cp.execFile(harness, argv, { cwd: ROOT, timeout: 180000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (!fs.existsSync(json)) return reject(new Error(`the harness wrote no result (${err && err.message}):\n${stdout}\n${stderr}`))
      const lines = fs.readFileSync(json, 'utf8').trim().split('\n')
      resolve({ code: err ? err.code : 0, stdout, res: JSON.parse(lines[lines.length - 1]) })
    })
  })
}

function check ({ code, stdout, res }, checkOrder) {
  const summary = `${JSON.stringify(res.failures)}\n${stdout}`
  assert.ok(res.pub_done, summary)
  assert.equal(res.lost, 0, summary)
  assert.equal(res.queued_lost, 0, summary)
  if (checkOrder) assert.equal(res.out_of_order, 0, summary)
  assert.equal(code, 0, summary)
  assert.ok(!res.failures || res.failures.length === 0, summary)
}

const opts = { timeout: 240000, skip: HAVE_HARNESS ? false : 'needs the repository\'s internal/cmd/churn' }

for (const config of ['default', 'noloss']) {
  test(`churn (${config}): nothing acknowledged is lost`, opts, async () => {
    const r = await trial(config, 'churn', false)
    check(r, false)
    assert.ok(r.res.kills > 0)
  })
}

for (const config of ['default', 'noloss']) {
  test(`total outage (${config}): nothing acknowledged or queued is lost${config === 'default' ? ', and order holds' : ''}`, opts, async () => {
    const r = await trial(config, 'outage', config === 'default')
    check(r, config === 'default') // ALL keeps the order per broker only (docs/engine.md)
    assert.ok(r.res.queued > 0, 'the publisher went on publishing during the outage')
  })
}
