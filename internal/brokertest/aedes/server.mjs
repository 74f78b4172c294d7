// One aedes broker on 127.0.0.1, for the tests (internal/brokertest, kind "aedes").
//
//   node server.mjs PORT
//
// It listens on 127.0.0.1:PORT only, with aedes' default options (what a user who runs aedes
// gets), and logs to stdout: a first line "aedes VERSION running on 127.0.0.1:PORT" once it
// accepts connections, then one line per client connect, disconnect and error. It exits 98
// when the port is taken, and 0 on SIGTERM after closing every connection.
import { createServer } from 'node:net'
import { readFileSync } from 'node:fs'
import { Aedes } from 'aedes'

const port = Number(process.argv[2])
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: node server.mjs PORT')
  process.exit(2)
}
const pkg = new URL('./node_modules/aedes/package.json', import.meta.url)
const version = JSON.parse(readFileSync(pkg, 'utf8')).version

const log = (msg) => console.log(`${new Date().toISOString()} ${msg}`)
const broker = await Aedes.createBroker()
broker.on('client', (c) => log(`client connected: ${c.id}`))
broker.on('clientDisconnect', (c) => log(`client disconnected: ${c.id}`))
broker.on('clientError', (c, err) => log(`client error: ${c.id}: ${err.message}`))
broker.on('connectionError', (c, err) => log(`connection error: ${c && c.id}: ${err.message}`))
broker.on('keepaliveTimeout', (c) => log(`keepalive timeout: ${c.id}`))

const server = createServer(broker.handle)
server.on('error', (err) => {
  console.error(`aedes: ${err.message}`)
  process.exit(err.code === 'EADDRINUSE' ? 98 : 1)
})
server.listen(port, '127.0.0.1', () => log(`aedes ${version} running on 127.0.0.1:${port}`))

process.on('SIGTERM', () => {
  server.close()
  broker.close(() => process.exit(0))
})
