'use strict'
// Churn trials of MQTT.js programs on hamqtt through the project's harness (internal/cmd/churn).
//
// The harness starts three Mosquitto brokers on free 127.0.0.1 ports, runs test/churn_client.js
// as subscriber and publisher (an MQTT.js program with its require swapped) and SIGKILLs and
// restarts the brokers while QoS 1 messages flow:
//   churn   1500 messages at 100 msg/s, one broker down at a time (default and no-loss
//           configurations); nothing acknowledged may be lost;
//   outage  10,000 messages at 500 msg/s with a disk outbox (configuration outbox), every
//           broker down for 20 s while the publisher goes on publishing (most of the stream is
//           stored during the outage); nothing acknowledged or stored may be lost, and the
//           stream's order must hold;
//   crash   the same configuration, 1500 messages at 100 msg/s, every broker down for 8 s and
//           the publisher SIGKILLed in the middle of the outage and started again on the same
//           outbox directory (--start: where its predecessor's promises end): what the killed
//           process stored must arrive too (run when the harness offers the schedule).
// These two replace the earlier 8 s outage trials of the default and no-loss configurations:
// every MqttClient keeps an outbox now (in memory by default), so the disk outbox's trial runs
// the same path and more, and the suite's time stays about the same.
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
// The crash schedule and the {outbox} and {start} placeholders came with the outbox.
const harnessHas = (word) => HAVE_HARNESS && fs.readFileSync(path.join(ROOT, 'internal', 'churn', 'churn.go'), 'utf8').includes(word)
const HAVE_OUTBOX = harnessHas('{outbox}') && harnessHas('{start}')
const HAVE_CRASH = HAVE_OUTBOX && fs.readFileSync(path.join(ROOT, 'internal', 'churn', 'killer.go'), 'utf8').includes('ScheduleCrash')

let harness, app
test.before(() => {
  if (!HAVE_HARNESS) return
  harness = path.join(tmpDir('hamqtt-node-churn-'), 'churn')
  const r = cp.spawnSync(GO, ['build', '-o', harness, './internal/cmd/churn'], { cwd: ROOT, encoding: 'utf8', timeout: 300000 })
  assert.equal(r.status, 0, `go build ./internal/cmd/churn: ${r.error || ''}${r.stderr}`)
  app = appDir() // require('hamqtt') resolves there, as in an application
})

const quote = (s) => `'${s.replace(/'/g, "'\\''")}'`

function trial (config, schedule, checkOrder, { count = 1500, rate = 100, outage = '8s' } = {}) {
  const dir = tmpDir('hamqtt-node-churn-trial-')
  const json = path.join(dir, 'result.jsonl')
  const client = `NODE_PATH=${quote(path.join(app, 'node_modules'))} ${quote(process.execPath)} ${quote(CLIENT)}`
  const args = ' --brokers {brokers} --topic {topic} --count {count} --rate {rate} --config {config}'
  const pubArgs = config === 'outbox' ? `${args} --outbox {outbox} --start {start}` : args
  const argv = ['-pub', `${client} pub${pubArgs}`, '-sub', `${client} sub${args}`, '-config', config, '-schedule', schedule,
    '-outage', outage, '-seed', SEED, '-count', String(count), '-rate', String(rate), '-label', 'node', '-json', json, '-logdir', dir]
  if (checkOrder) argv.push('-check-order')
  return new Promise((resolve, reject) => {
    cp.execFile(harness, argv, { cwd: ROOT, timeout: 240000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
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

for (const config of ['default', 'noloss', 'noloss-v5']) {
  test(`churn (${config}): nothing acknowledged is lost`, opts, async () => {
    const r = await trial(config, 'churn', false)
    check(r, false)
    assert.ok(r.res.kills > 0)
    // Over MQTT 5 the copies carry message ids: the de-duplicating subscriber removes all.
    if (config.endsWith('-v5')) assert.equal(r.res.duplicates, 0, JSON.stringify(r.res))
  })
}

const outboxOpts = { ...opts, timeout: 300000, skip: opts.skip || (HAVE_OUTBOX ? false : "needs a harness with the outbox's {outbox} and {start}") }

test('total outage of 20 s, disk outbox, 10,000 messages: nothing acknowledged or stored is lost, and order holds', outboxOpts, async () => {
  const r = await trial('outbox', 'outage', true, { count: 10000, rate: 500, outage: '20s' })
  check(r, true)
  assert.equal(r.res.sent, 10000)
  assert.ok(r.res.stored >= 5000, `most of the stream was stored during the outage (stored ${r.res.stored})`)
})

test('the publisher SIGKILLed during a total outage and started again: what it stored on disk arrives', { ...outboxOpts, skip: outboxOpts.skip || (HAVE_CRASH ? false : 'needs a harness with the crash schedule') }, async () => {
  // Order holds too: the new publisher's outbox sends what it recovered before anything new,
  // and what it publishes again (stored by its predecessor, not reported) arrives as copies.
  const r = await trial('outbox', 'crash', true)
  check(r, true)
  assert.equal(r.res.crashes, 1)
  assert.ok(r.res.recovered > 0, `the killed publisher left stored messages to its outbox (recovered ${r.res.recovered})`)
})
