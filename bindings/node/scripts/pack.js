#!/usr/bin/env node
// `make npm-pack`: the npm package that installs with no Go and no C compiler. It carries the
// addon that `npm install` built here (build/Release, by scripts/install.js) and the library
// beside it, as prebuilds/<platform>-<arch>/{hamqtt,hamqtt_sigmask}.napi.glibc.node and
// libhamqtt.so.0 (the addon's RUNPATH starts with $ORIGIN), plus the JavaScript, the header and
// the addon's sources for builds from source elsewhere. It builds nothing itself.
//
// Checks before packing: the addon is not older than its sources, it needs libhamqtt.so.0 and
// has $ORIGIN in its RUNPATH, the staged package loads the library from its prebuilt directory
// in a fresh process (no LD_LIBRARY_PATH) and reports the package's version, the README names
// the glibc the binaries need, and the package has no runtime dependencies (it installs offline).
//
//   node scripts/pack.js [--out DIR]   (default: <repository>/build/npm)
// Writes DIR/hamqtt-<version>.tgz; the last line on stdout sums it up.
'use strict'

const fs = require('node:fs')
const path = require('node:path')
const cp = require('node:child_process')
const prebuilds = require('../lib/prebuilds')

const pkgDir = path.resolve(__dirname, '..')
const argv = process.argv.slice(2)
const outArg = argv.indexOf('--out')
const out = path.resolve(outArg >= 0 ? argv[outArg + 1] : path.join(pkgDir, '..', '..', 'build', 'npm'))
const stage = path.join(out, 'stage')
const release = path.join(pkgDir, 'build', 'Release')
const SONAME = 'libhamqtt.so.0'

function log (msg) { process.stderr.write(`npm-pack: ${msg}\n`) }
function die (msg) { process.stderr.write(`npm-pack: error: ${msg}\n`); process.exit(1) }

function run (cmd, args, opts = {}) {
  const r = cp.spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts })
  if (r.error) die(`${cmd}: ${r.error.message}`)
  if (r.status !== 0) die(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}:\n${r.stderr}`)
  return r.stdout
}

const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'))
for (const k of ['dependencies', 'optionalDependencies', 'peerDependencies', 'bundleDependencies']) {
  if (pkg[k] && Object.keys(pkg[k]).length) die(`package.json has ${k}: the package must install with none (offline)`)
}

// 1. What `npm install` built here.
const inputs = {
  hamqtt: path.join(release, 'hamqtt.node'),
  hamqtt_sigmask: path.join(release, 'hamqtt_sigmask.node'),
  lib: path.join(pkgDir, 'native', SONAME),
  header: path.join(pkgDir, 'native', 'hamqtt.h')
}
for (const f of Object.values(inputs)) {
  if (!fs.existsSync(f)) die(`${path.relative(pkgDir, f)} is missing: run \`npm install\` in ${pkgDir} first (make node-install)`)
}
const mtime = (f) => fs.statSync(f).mtimeMs
for (const [addon, sources] of [['hamqtt', ['src/addon.c', 'binding.gyp']], ['hamqtt_sigmask', ['src/sigmask.c', 'binding.gyp']]]) {
  for (const s of sources) {
    if (mtime(path.join(pkgDir, s)) > mtime(inputs[addon])) die(`${s} is newer than build/Release/${addon}.node: run \`npm install\` again`)
  }
}
if (mtime(inputs.lib) > mtime(inputs.hamqtt)) die(`native/${SONAME} is newer than the addon linked with it: run \`npm install\` again`)

if (process.platform !== 'linux' || prebuilds.libc() !== 'glibc') die(`prebuilts are made on Linux with glibc; this is ${prebuilds.tuple} (${prebuilds.libc()})`)
const tuple = prebuilds.tuple

// 2. Linkage: the addon needs libhamqtt.so.0 and looks beside itself first.
const dyn = run('readelf', ['-d', inputs.hamqtt])
if (!/\(NEEDED\)\s+Shared library: \[libhamqtt\.so\.0\]/.test(dyn)) die('build/Release/hamqtt.node does not need libhamqtt.so.0')
const runpath = /\((?:RUNPATH|RPATH)\)\s+Library r(?:un)?path: \[([^\]]*)\]/.exec(dyn)
if (!runpath || !runpath[1].split(':').includes('$ORIGIN')) {
  die(`build/Release/hamqtt.node has RUNPATH ${runpath ? runpath[1] : '(none)'}, without $ORIGIN: rebuild it with binding.gyp's ldflags`)
}
if (!/\(SONAME\)\s+Library soname: \[libhamqtt\.so\.0\]/.test(run('readelf', ['-d', inputs.lib]))) die(`native/${SONAME} has another SONAME`)

// 3. The glibc the binaries need: the newest GLIBC_ symbol version they reference.
const need = {}
let glibc = '0'
const newer = (a, b) => { // a > b
  const x = a.split('.').map(Number); const y = b.split('.').map(Number)
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] || 0) !== (y[i] || 0)) return (x[i] || 0) > (y[i] || 0)
  return false
}
for (const f of [inputs.lib, inputs.hamqtt, inputs.hamqtt_sigmask]) {
  let max = '0'
  for (const m of run('objdump', ['-T', f]).matchAll(/\bGLIBC_(\d+(?:\.\d+)+)\b/g)) if (newer(m[1], max)) max = m[1]
  need[path.basename(f)] = max
  if (newer(max, glibc)) glibc = max
}
log(`glibc needed: ${Object.entries(need).map(([f, v]) => `${f} ${v}`).join(', ')}`)
const readme = fs.readFileSync(path.join(pkgDir, 'README.md'), 'utf8')
if (!readme.includes(`glibc ${glibc} or newer`)) {
  die(`the binaries need glibc ${glibc}, and README.md does not say "glibc ${glibc} or newer": update its Install section`)
}

// 4. The staged package.
fs.rmSync(stage, { recursive: true, force: true })
const put = (from, to, mode) => {
  const dst = path.join(stage, to)
  fs.mkdirSync(path.dirname(dst), { recursive: true })
  fs.copyFileSync(fs.realpathSync(from), dst)
  if (mode) fs.chmodSync(dst, mode)
}
for (const f of ['index.js', 'index.d.ts', 'README.md', 'binding.gyp', 'scripts/install.js']) put(path.join(pkgDir, f), f)
for (const dir of ['lib', 'src']) {
  for (const f of fs.readdirSync(path.join(pkgDir, dir))) {
    if (/\.(js|c|h)$/.test(f)) put(path.join(pkgDir, dir, f), path.join(dir, f))
  }
}
put(inputs.header, 'native/hamqtt.h')
const pre = path.join('prebuilds', tuple)
put(inputs.hamqtt, path.join(pre, 'hamqtt.napi.glibc.node'), 0o755)
put(inputs.hamqtt_sigmask, path.join(pre, 'hamqtt_sigmask.napi.glibc.node'), 0o755)
put(inputs.lib, path.join(pre, SONAME), 0o755)

const manifest = {}
for (const k of ['name', 'version', 'description', 'main', 'types', 'license', 'keywords', 'engines', 'os']) {
  if (pkg[k] !== undefined) manifest[k] = pkg[k]
}
Object.assign(manifest, {
  gypfile: false, // npm must not run node-gyp by itself: scripts/install.js decides
  files: ['index.js', 'index.d.ts', 'lib/', 'scripts/install.js', 'prebuilds/', 'src/', 'binding.gyp', 'native/hamqtt.h', 'README.md'],
  scripts: { install: 'node scripts/install.js' },
  hamqtt: { prebuilds: { [tuple]: { libc: 'glibc', glibc } } }
})
fs.writeFileSync(path.join(stage, 'package.json'), JSON.stringify(manifest, null, 2) + '\n')

// 5. The staged package loads its own prebuilt, with nothing else to find it by.
const probe = cp.spawnSync(process.execPath, ['-e', `
  const n = require('./lib/native')
  const maps = require('node:fs').readFileSync('/proc/self/maps', 'utf8')
  const where = (name) => (maps.split('\\n').find((l) => l.endsWith('/' + name)) || '').replace(/^.* /, '')
  console.log(JSON.stringify({ version: n.version(), lib: where('${SONAME}'), addon: where('hamqtt.napi.glibc.node') }))
`], { cwd: stage, encoding: 'utf8', env: { ...process.env, LD_LIBRARY_PATH: '' } })
if (probe.status !== 0) die(`the staged package does not load:\n${probe.stderr}`)
const loaded = JSON.parse(probe.stdout)
const preDir = path.join(stage, pre)
if (loaded.version !== pkg.version) die(`libhamqtt reports version ${loaded.version}; package.json says ${pkg.version}`)
if (path.dirname(loaded.lib) !== preDir || path.dirname(loaded.addon) !== preDir) {
  die(`the staged package loaded ${loaded.addon} and ${loaded.lib}, not its prebuilt directory ${preDir}`)
}
log(`staged ${stage}: loads ${pre}/${SONAME}, libhamqtt ${loaded.version}`)

// 6. npm pack.
fs.mkdirSync(out, { recursive: true })
for (const f of fs.readdirSync(out)) if (/^hamqtt-.*\.tgz$/.test(f)) fs.rmSync(path.join(out, f))
const [packed] = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', out], { cwd: stage }))
const tarball = path.join(out, packed.filename)
if (!fs.existsSync(tarball)) die(`npm pack did not write ${tarball}`)
for (const f of packed.files) log(`  ${String(f.size).padStart(9)}  ${f.path}`)
for (const f of [`${pre}/hamqtt.napi.glibc.node`, `${pre}/hamqtt_sigmask.napi.glibc.node`, `${pre}/${SONAME}`, 'lib/prebuilds.js', 'scripts/install.js']) {
  if (!packed.files.some((e) => e.path === f)) die(`the tarball lacks ${f}`)
}
fs.rmSync(stage, { recursive: true, force: true })
const mb = (n) => `${(n / 1e6).toFixed(1)} MB`
const repo = path.join(pkgDir, '..', '..')
const shown = tarball.startsWith(repo + path.sep) ? path.relative(repo, tarball) : tarball
console.log(`npm-pack: ${shown} (${mb(packed.size)}, ` +
  `${mb(packed.unpackedSize)} unpacked, ${packed.entryCount} files): prebuilt ${tuple} glibc >= ${glibc}, ` +
  `libhamqtt ${loaded.version}, no dependencies`)
