'use strict'
// What the tests share about clients: the ones a test opened are ended after it, and a promise
// can be given a deadline.

// trackedClients returns the set a test adds its clients to; each is ended (forced) after the
// test, pass or fail.
function trackedClients (test) {
  const open = new Set()
  test.afterEach(async () => {
    for (const c of open) await c.endAsync(true)
    open.clear()
  })
  return open
}

// within settles as p does, or rejects naming `what` after ms milliseconds.
const within = (p, ms, what) => Promise.race([p, new Promise((resolve, reject) => setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms).unref())])

module.exports = { trackedClients, within }
