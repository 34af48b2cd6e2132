// semver-diff.js - the differential test's corpus and oracle.
//
//   node semver-diff.js gen SEED COUNT > questions.jsonl
//   NODE_SEMVER=DIR node semver-diff.js oracle < questions.jsonl
//   node semver-diff.js compare questions.jsonl expected.jsonl got.jsonl
//
// gen writes COUNT questions for `airlock semver batch`, one JSON array
// [FUNCTION, FLAGS, ARGS...] per line, drawn from a small deterministic
// PRNG (the same SEED always gives the same corpus). The forms lean on
// what breaks implementations: prereleases, x-ranges, hyphen ranges,
// loose forms, odd whitespace, v and = prefixes, build metadata, leading
// zeros, numbers at and past 2^53, and junk.
// oracle answers each question with node-semver from DIR (the pinned
// release the test installs), in the batch mode's result format.
// compare prints the first disagreements with their inputs and exits 1
// if there is any.
'use strict'

const fs = require('fs')
const readline = require('readline')

// mulberry32: small, fast, and the same everywhere.
function prng (seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function corpus (seed) {
  const rnd = prng(seed)
  const int = n => Math.floor(rnd() * n)
  const pick = a => a[int(a.length)]
  const chance = p => rnd() < p

  const bigs = ['9007199254740991', '9007199254740992', '9007199254740993',
    '18446744073709551616', '99999999999999999999', '1234567890123456']
  const num = () => {
    if (chance(0.03)) return pick(bigs)
    if (chance(0.04)) return '0' + int(10)
    if (chance(0.02)) return '00'
    return String(chance(0.8) ? int(4) : int(20))
  }
  const ident = () => pick(['alpha', 'beta', 'rc', 'pre', 'x', 'X', 'a1',
    '1a', '-', '--', 'a-b', 'dev', 'next', '0', '1', '2', '10', '01', '00',
    '9007199254740991', '9007199254740993', '99999999999999999999',
    'alpha0', 'Beta', 'build'])
  const pre = () => {
    const n = 1 + int(chance(0.7) ? 2 : 4)
    const ids = []
    for (let i = 0; i < n; i++) ids.push(ident())
    return ids.join('.')
  }
  const build = () => {
    const n = 1 + int(3)
    const ids = []
    for (let i = 0; i < n; i++) {
      ids.push(pick(['b', '001', 'sha', '1', 'x-y', 'build', '0', 'abc']))
    }
    return ids.join('.')
  }
  const space = () => pick([' ', ' ', ' ', '  ', '\t', '\n', '\r\n', '\v',
    '\f', ' \t '])
  const prefix = () => {
    if (!chance(0.12)) return ''
    return pick(['v', '=', 'v=', '=v', 'V', ' v', 'vv', '= ', 'v '])
  }
  const tail = () => {
    let s = ''
    if (chance(0.3)) {
      s += chance(0.85) ? '-' + pre() : pre()
    }
    if (chance(0.12)) s += '+' + build()
    if (chance(0.02)) s += pick(['-', '+', '.', '..', '-.a', '+.x'])
    return s
  }
  const version = () => {
    if (chance(0.03)) {
      return pick(['', ' ', 'x', '*', 'latest', 'a.b.c', '1.2', '1',
        '1.2.3.4', '1.2.x', '-1.2.3', '1.2.3 4', '1 .2.3', '1.2.3-',
        '1.2.3+', 'v', '1.2.3\u00a0', '\ufeff1.2.3', '1.2.3\u3000'])
    }
    let s = prefix() + num() + '.' + num() + '.' + num() + tail()
    if (chance(0.05)) s = space() + s
    if (chance(0.05)) s += space()
    return s
  }
  const xpart = () => chance(0.2) ? pick(['x', 'X', '*']) : num()
  const partial = () => {
    const n = pick([1, 2, 3, 3, 3, 3])
    const parts = []
    for (let i = 0; i < n; i++) parts.push(xpart())
    let s = prefix() + parts.join('.')
    if (n === 3) s += tail()
    else if (chance(0.03)) s += tail()
    return s
  }
  const ops = ['', '', '', '^', '^', '~', '~', '~>', '>', '>=', '<', '<=',
    '=', '==', '>>', '<>', '=>', '=<']
  const comparator = () => {
    if (chance(0.04)) {
      return pick(['*', 'x', 'X', '', 'latest', 'next', '>=', '<', '~', '^',
        '-', '||', 'junk', '1.2.3junk', '>=*', '<x', '^*', '~x', '>*'])
    }
    const op = pick(ops)
    const sp = op && chance(0.15) ? space() : ''
    return op + sp + partial()
  }
  const set = () => {
    if (chance(0.12)) return partial() + space() + '-' + space() + partial()
    if (chance(0.01)) return partial() + ' -' + partial()
    const n = 1 + int(chance(0.6) ? 2 : 4)
    const cs = []
    for (let i = 0; i < n; i++) cs.push(comparator())
    let s = cs.join(space())
    if (chance(0.05)) s = space() + s
    if (chance(0.05)) s += space()
    return s
  }
  const range = () => {
    const n = 1 + (chance(0.75) ? 0 : int(3))
    const sets = []
    for (let i = 0; i < n; i++) sets.push(set())
    return sets.join(pick(['||', ' || ', '  ||  ', ' ||', '|| ', '\t||\t']))
  }
  // Versions near a range: its own numbers, nudged.
  const near = r => {
    const nums = r.match(/\d+/g)
    if (!nums || chance(0.3)) return version()
    const at = () => chance(0.7) ? pick(nums) : num()
    const nudge = s => {
      if (s.length > 15 || !chance(0.3)) return s
      return String(Math.max(0, +s + pick([-1, 1])))
    }
    let s = nudge(at()) + '.' + nudge(at()) + '.' + nudge(at())
    if (chance(0.35)) s += '-' + pre()
    if (chance(0.05)) s += '+' + build()
    if (chance(0.05)) s = prefix() + s
    return s
  }
  const flags = () => pick([0, 0, 0, 1, 2, 3])

  return function next () {
    const f = flags()
    const u = rnd()
    if (u < 0.58) {
      const r = range()
      return ['satisfies', f, near(r), r]
    }
    if (u < 0.66) return ['valid', f, version()]
    if (u < 0.74) return ['validRange', f, range()]
    if (u < 0.80) {
      const r = range()
      const vs = []
      for (let i = 1 + int(6); i > 0; i--) vs.push(near(r))
      return ['maxSatisfying', f, vs, r]
    }
    if (u < 0.86) return ['minVersion', f, range()]
    if (u < 0.93) return ['intersects', f, range(), range()]
    const r = range()
    return [chance(0.5) ? 'gtr' : 'ltr', f, near(r), r]
  }
}

function gen (seed, count) {
  const next = corpus(seed)
  const out = []
  for (let i = 0; i < count; i++) {
    out.push(JSON.stringify(next()))
    if (out.length === 4096) {
      process.stdout.write(out.join('\n') + '\n')
      out.length = 0
    }
  }
  if (out.length) process.stdout.write(out.join('\n') + '\n')
}

function answer (semver, q) {
  const [fn, f, a, b] = q
  const o = { loose: !!(f & 1), includePrerelease: !!(f & 2) }
  try {
    switch (fn) {
      case 'valid': return semver.valid(a, o)
      case 'satisfies': return semver.satisfies(a, b, o)
      case 'validRange': return semver.validRange(a, o)
      case 'maxSatisfying': return semver.maxSatisfying(a, b, o)
      case 'minVersion': {
        const v = semver.minVersion(a, o)
        return v ? v.version : null
      }
      case 'intersects': return semver.intersects(a, b, o)
      case 'gtr': return semver.gtr(a, b, o)
      case 'ltr': return semver.ltr(a, b, o)
    }
  } catch (e) {
    return { error: 'throws' }
  }
  throw new Error('unknown question ' + fn)
}

async function oracle () {
  const dir = process.env.NODE_SEMVER
  if (!dir) throw new Error('NODE_SEMVER is not set')
  const semver = require(dir)
  const rl = readline.createInterface({ input: process.stdin })
  const out = []
  for await (const line of rl) {
    out.push(JSON.stringify(answer(semver, JSON.parse(line))))
    if (out.length === 4096) {
      process.stdout.write(out.join('\n') + '\n')
      out.length = 0
    }
  }
  if (out.length) process.stdout.write(out.join('\n') + '\n')
}

// Errors agree whatever their message.
function norm (v) {
  return v && typeof v === 'object' && 'error' in v ? 'ERROR' : v
}

function compare (qf, ef, gf) {
  const lines = f => fs.readFileSync(f, 'utf8').split('\n').filter(Boolean)
  const q = lines(qf); const e = lines(ef); const g = lines(gf)
  const byFn = {}
  let bad = 0
  if (q.length !== e.length || q.length !== g.length) {
    console.log(`line counts differ: ${q.length} questions, ` +
      `${e.length} expected, ${g.length} got`)
    process.exit(1)
  }
  for (let i = 0; i < q.length; i++) {
    const fn = JSON.parse(q[i])[0]
    byFn[fn] = (byFn[fn] || 0) + 1
    const want = norm(JSON.parse(e[i]))
    const got = norm(JSON.parse(g[i]))
    if (JSON.stringify(want) === JSON.stringify(got)) continue
    if (++bad <= 40) {
      console.log(`disagreement at question ${i + 1}: ${q[i]}\n` +
        `  node-semver: ${JSON.stringify(want)}\n` +
        `  airlock:     ${JSON.stringify(got)}`)
    }
  }
  console.log(`questions: ${q.length} (` + Object.keys(byFn).sort()
    .map(k => `${k} ${byFn[k]}`).join(', ') + `); disagreements: ${bad}`)
  process.exit(bad ? 1 : 0)
}

const [cmd, ...args] = process.argv.slice(2)
if (cmd === 'gen') gen(Number(args[0]), Number(args[1]))
else if (cmd === 'oracle') oracle()
else if (cmd === 'compare') compare(args[0], args[1], args[2])
else {
  console.error('usage: semver-diff.js gen SEED COUNT | oracle | ' +
    'compare Q E G')
  process.exit(2)
}
