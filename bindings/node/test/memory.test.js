'use strict'
// 100,000 messages received without memory growth: RSS and the V8 heap after a warm-up of
// 20,000 messages against the end, each after a full GC, in a child process of its own.
// The bounds are tolerant (the Go runtime and glibc keep some memory they used): a leak of
// even a few hundred bytes per message would exceed them.
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { startBroker } = require('./helpers/mosquitto')
const { spawnNode } = require('./helpers/proc')

const MB = 1024 * 1024

test('100,000 messages received without memory growth', { timeout: 120000 }, async (t) => {
  const broker = await startBroker()
  try {
    const total = 120000 // 20,000 warm-up + 100,000 measured
    const run = spawnNode([path.join(__dirname, 'fixtures', 'memory-child.js'), broker.url, '20000', String(total)], {
      args: ['--expose-gc'], timeoutMs: 110000
    })
    const res = await run.done
    assert.equal(res.code, 0, res.stderr)
    const out = JSON.parse(res.stdout.trim())
    assert.equal(out.received, total)
    const drss = (out.end.rss - out.warm.rss) / MB
    const dheap = (out.end.heapUsed - out.warm.heapUsed) / MB
    const dext = (out.end.external - out.warm.external) / MB
    t.diagnostic(`after warm-up: rss ${(out.warm.rss / MB).toFixed(1)} MB, heap ${(out.warm.heapUsed / MB).toFixed(1)} MB; ` +
      `growth over 100,000 messages: rss ${drss.toFixed(1)} MB, heap ${dheap.toFixed(2)} MB, external ${dext.toFixed(2)} MB`)
    assert.ok(dheap < 8, `V8 heap grew ${dheap.toFixed(2)} MB`)
    assert.ok(dext < 8, `external memory grew ${dext.toFixed(2)} MB`)
    assert.ok(drss < 40, `RSS grew ${drss.toFixed(1)} MB`)
  } finally {
    await broker.stop()
  }
})
