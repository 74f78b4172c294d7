'use strict'
// The npm package from `make npm-pack`, installed as an MQTT.js user installs it: `npm install
// --offline` of the tarball into a scratch project, with a PATH that holds only node, npm and
// sh (no go, gcc, cc, c++, make, python), a clean environment and an empty npm cache. Then a
// publish/subscribe round trip through the installed package against a real Mosquitto broker.
//
// What proves that nothing was built: without those tools a Go or node-gyp build cannot run,
// and the install succeeds; its script says it used the prebuilt; the installed package holds
// exactly the tarball's files (a build would leave build/ or native/libhamqtt.so.0); and the
// round trip's process maps the addon and libhamqtt.so.0 from the package's prebuilds/.
// Also: installed with --ignore-scripts, the prebuilt loads all the same; and where no prebuilt
// matches and no Go is found, the install fails saying what is missing.
//
// Run by `make npm-pack-test` (HAMQTT_NPM_PACK_DIR: where npm-pack wrote the tarball).
const test = require('node:test')
const assert = require('node:assert/strict')
const cp = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { startBroker, tmpDir } = require('../helpers/mosquitto')

const PKG = path.resolve(__dirname, '..', '..')
const REPO = path.resolve(PKG, '..', '..')
const { version } = JSON.parse(fs.readFileSync(path.join(PKG, 'package.json'), 'utf8'))
const packDir = process.env.HAMQTT_NPM_PACK_DIR || path.join(REPO, 'build', 'npm')
const tarball = path.join(packDir, `hamqtt-${version}.tgz`)
const tuple = `${process.platform}-${process.arch}`
const FORBIDDEN = ['go', 'gofmt', 'gcc', 'cc', 'c++', 'g++', 'clang', 'make', 'python3', 'python']

// npm's own script, next to the running node (its standard layout) or found on PATH.
function npmCli () {
  const besideNode = path.resolve(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js')
  if (fs.existsSync(besideNode)) return besideNode
  for (const d of (process.env.PATH || '').split(path.delimiter)) {
    const f = path.join(d, 'npm')
    if (d && fs.existsSync(f)) return fs.realpathSync(f)
  }
  throw new Error('npm not found')
}

let scratch, bin, env, broker

function which (cmd) { // in the restricted PATH
  for (const d of env.PATH.split(path.delimiter)) if (fs.existsSync(path.join(d, cmd))) return path.join(d, cmd)
  return null
}

test.before(async () => {
  assert.ok(fs.existsSync(tarball), `${tarball} is missing: run \`make npm-pack\` first`)
  scratch = tmpDir('hamqtt-npm-pack-')
  bin = path.join(scratch, 'bin')
  fs.mkdirSync(bin)
  fs.symlinkSync(process.execPath, path.join(bin, 'node'))
  fs.symlinkSync(npmCli(), path.join(bin, 'npm'))
  fs.symlinkSync('/bin/sh', path.join(bin, 'sh')) // npm runs scripts with `sh -c`
  fs.mkdirSync(path.join(scratch, 'home'))
  fs.writeFileSync(path.join(scratch, 'npmrc'), '')
  env = { // nothing inherited: no GO, CC, CXX, GOROOT, LD_LIBRARY_PATH, HAMQTT_*, npm_config_*
    PATH: bin,
    HOME: path.join(scratch, 'home'),
    TMPDIR: scratch,
    npm_config_userconfig: path.join(scratch, 'npmrc'),
    npm_config_cache: path.join(scratch, 'npm-cache'),
    npm_config_update_notifier: 'false',
    npm_config_ignore_scripts: 'false'
  }
  for (const t of FORBIDDEN) assert.equal(which(t), null, `${t} must not be on the test's PATH`)
  broker = await startBroker()
})

test.after(async () => { await broker?.stop() })

function project (name) {
  const dir = path.join(scratch, name)
  fs.mkdirSync(dir)
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, private: true }) + '\n')
  return dir
}

function npmInstall (dir, extraEnv = {}, flags = []) {
  return cp.spawnSync(path.join(bin, 'npm'),
    ['install', '--offline', '--no-audit', '--no-fund', '--foreground-scripts', ...flags, tarball],
    { cwd: dir, env: { ...env, ...extraEnv }, encoding: 'utf8', timeout: 120000 })
}

function walk (dir, base = dir, out = []) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const f = path.join(dir, e.name)
    if (e.isDirectory()) walk(f, base, out)
    else out.push(path.relative(base, f))
  }
  return out.sort()
}

const ROUND_TRIP = `
const fs = require('node:fs')
const mqtt = require('hamqtt')
const url = process.argv[2]
const topic = 'hamqtt/npm-pack/' + process.pid
const payload = 'round trip ' + Math.random()
setTimeout(() => { console.error('timed out'); process.exit(2) }, 20000).unref()
const sub = mqtt.connect(url, { clientId: 'npm-pack-sub-' + process.pid })
sub.on('error', (e) => { console.error('sub', e); process.exit(1) })
sub.on('message', (t, m) => {
  if (t !== topic) return
  const maps = fs.readFileSync('/proc/self/maps', 'utf8').split('\\n')
  const where = (name) => (maps.find((l) => l.endsWith('/' + name)) || '').replace(/^.* /, '')
  console.log(JSON.stringify({
    resolved: require.resolve('hamqtt'),
    version: require('hamqtt/package.json').version,
    libraryVersion: mqtt.libraryVersion,
    received: m.toString(),
    sent: payload,
    addon: where('hamqtt.napi.glibc.node'),
    lib: where('libhamqtt.so.0')
  }))
  pub.end(() => sub.end())
})
let pub
sub.subscribe(topic, { qos: 1 }, (err) => {
  if (err) { console.error('subscribe', err); process.exit(1) }
  pub = mqtt.connect(url, { clientId: 'npm-pack-pub-' + process.pid })
  pub.on('error', (e) => { console.error('pub', e); process.exit(1) })
  pub.publish(topic, payload, { qos: 1 }, (e) => { if (e) { console.error('publish', e); process.exit(1) } })
})
`

test('the tarball installs offline with no Go and no compiler, and a round trip runs through it', (t) => {
  const dir = project('app')
  const r = npmInstall(dir)
  const output = `${r.stdout}\n${r.stderr}`
  assert.equal(r.status, 0, `npm install failed:\n${output}`)
  assert.match(output, new RegExp(`hamqtt install: using the prebuilt addon in prebuilds/${tuple} \\(libhamqtt ${version.replace(/\./g, '\\.')}\\): nothing to build`))
  assert.doesNotMatch(output, /node-gyp|go build|building from source/)

  // Nothing but the tarball's files, and no dependency came with it.
  const installed = path.join(dir, 'node_modules', 'hamqtt')
  assert.ok(!fs.lstatSync(installed).isSymbolicLink())
  const tarFiles = cp.execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' })
    .split('\n').filter((l) => l && !l.endsWith('/')).map((l) => l.replace(/^package\//, '')).sort()
  assert.deepEqual(walk(installed), tarFiles)
  for (const f of [`prebuilds/${tuple}/hamqtt.napi.glibc.node`, `prebuilds/${tuple}/hamqtt_sigmask.napi.glibc.node`, `prebuilds/${tuple}/libhamqtt.so.0`]) {
    assert.ok(tarFiles.includes(f), `the tarball has ${f}`)
  }
  assert.deepEqual(fs.readdirSync(path.join(dir, 'node_modules')).filter((n) => !n.startsWith('.')), ['hamqtt'])
  const manifest = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8'))
  assert.equal(manifest.dependencies, undefined)
  assert.match(fs.readFileSync(path.join(installed, 'README.md'), 'utf8'),
    new RegExp(`linux-x64 with glibc ${manifest.hamqtt.prebuilds[tuple].glibc.replace('.', '\\.')} or newer`))

  // The round trip, in the scratch project, with the same bare environment.
  fs.writeFileSync(path.join(dir, 'roundtrip.js'), ROUND_TRIP)
  const rt = cp.spawnSync(path.join(bin, 'node'), ['roundtrip.js', broker.url],
    { cwd: dir, env, encoding: 'utf8', timeout: 30000 })
  assert.equal(rt.status, 0, `round trip failed (${rt.status ?? rt.signal}):\n${rt.stdout}\n${rt.stderr}`)
  const got = JSON.parse(rt.stdout.trim().split('\n').pop())
  assert.equal(got.resolved, path.join(installed, 'index.js'))
  assert.equal(got.received, got.sent)
  assert.equal(got.version, version)
  assert.equal(got.libraryVersion, got.version, 'hamqtt_version() matches the package version')
  assert.equal(got.addon, path.join(installed, 'prebuilds', tuple, 'hamqtt.napi.glibc.node'))
  assert.equal(got.lib, path.join(installed, 'prebuilds', tuple, 'libhamqtt.so.0'))
  t.diagnostic(`installed ${path.basename(tarball)} and ran a QoS 1 round trip: libhamqtt ${got.libraryVersion}`)
})

test('with install scripts disabled, the prebuilt loads all the same', () => {
  const dir = project('noscripts')
  const r = npmInstall(dir, {}, ['--ignore-scripts'])
  assert.equal(r.status, 0, `npm install failed:\n${r.stdout}\n${r.stderr}`)
  assert.doesNotMatch(`${r.stdout}\n${r.stderr}`, /hamqtt install:/)
  const v = cp.spawnSync(path.join(bin, 'node'), ['-p', "require('hamqtt').libraryVersion"],
    { cwd: dir, env, encoding: 'utf8', timeout: 30000 })
  assert.equal(v.status, 0, v.stderr)
  assert.equal(v.stdout.trim(), version)
})

test('without a matching prebuilt and without Go, the install says what is missing', () => {
  // LIBC=musl: the package's glibc prebuilt does not match, as on Alpine.
  const dir = project('musl')
  const r = npmInstall(dir, { LIBC: 'musl' })
  const output = `${r.stdout}\n${r.stderr}`
  assert.notEqual(r.status, 0, `the install succeeded:\n${output}`)
  assert.match(output, /cannot install hamqtt on linux-x64 \(musl\): this package has no prebuilt addon for this platform \(prebuilts: linux-x64 \(glibc [\d.]+ or newer\)\)/)
  assert.match(output, /- Go 1\.\d+ or newer and the hamqtt source, to build libhamqtt\.so\.0 for this platform/)
  assert.match(output, /- a C compiler/)
  assert.match(output, /To fix: install what is missing \(Go 1\.\d+ or newer, a C compiler toolchain/)
  assert.match(output, /or install on a platform that has a prebuilt: linux-x64 \(glibc/)
  assert.doesNotMatch(output, /ENOENT|spawnSync/)

  // The case: the hamqtt source tree is there, Go is not.
  const installed = path.join(scratch, 'app', 'node_modules', 'hamqtt')
  const s = cp.spawnSync(path.join(bin, 'node'), ['scripts/install.js', '--build-from-source'],
    { cwd: installed, env: { ...env, HAMQTT_SOURCE_DIR: REPO }, encoding: 'utf8', timeout: 30000 })
  assert.equal(s.status, 1, s.stderr)
  assert.match(s.stderr, /a build from source was asked for/)
  assert.match(s.stderr, new RegExp(`Go 1\\.\\d+ or newer, to build libhamqtt\\.so from ${REPO.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(\`go\` is not on PATH\\)`))
  assert.doesNotMatch(s.stderr, /ENOENT|spawnSync/)
  assert.ok(!fs.existsSync(path.join(installed, 'build')), 'nothing was built')
})
