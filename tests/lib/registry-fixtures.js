'use strict';
// registry-fixtures.js - publish tests/fixtures/registry/* to the test
// Verdaccio, fresh on every tests/run.
//
//   node registry-fixtures.js REGISTRY_URL STORAGE_DIR FIXTURES_DIR
//
// Each fixture package is a folder with one subfolder per version (the
// package's files) and fixture.json, which lists the versions in the
// order they are published, with their publisher (_npmUser), maintainers,
// an optional deprecation message and dist-tag (default "latest"), and
// the release time they must show ("published"; null = now).
//
// Each version goes up as npm publish sends it: one PUT of the package
// document with the version's manifest and the tarball attached. The
// manifest also carries _npmUser and maintainers, which npm's registry
// would fill in from the account that publishes; Verdaccio keeps what it
// is sent. Verdaccio stamps every version with the time it arrives, so
// afterwards the stamps of the versions that must look old are set in its
// storage file (Verdaccio reads that file on every request), and the
// document is fetched back over HTTP to check that it says so.
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const crypto = require('crypto');

const [registry, storage, fixtures] = process.argv.slice(2);
if (!registry || !storage || !fixtures) {
  console.error('usage: registry-fixtures.js REGISTRY_URL STORAGE_DIR FIXTURES_DIR');
  process.exit(2);
}
const base = registry.replace(/\/+$/, '');

// A ustar archive of dir's files under package/, gzip-compressed, with a
// fixed mtime so that the same fixture gives the same tarball.
function tarball(dir) {
  const blocks = [];
  const mtime = Math.floor(Date.UTC(2024, 0, 1) / 1000);
  for (const name of fs.readdirSync(dir).sort()) {
    const data = fs.readFileSync(path.join(dir, name));
    const h = Buffer.alloc(512);
    const put = (off, len, s) => h.write(s, off, len, 'latin1');
    const oct = (off, len, n) => put(off, len, n.toString(8).padStart(len - 1, '0') + '\0');
    put(0, 100, 'package/' + name);
    oct(100, 8, 0o644);
    oct(108, 8, 0);
    oct(116, 8, 0);
    oct(124, 12, data.length);
    oct(136, 12, mtime);
    put(148, 8, '        ');
    put(156, 1, '0');
    put(257, 6, 'ustar\0');
    put(263, 2, '00');
    let sum = 0;
    for (const b of h) sum += b;
    put(148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
    blocks.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return zlib.gzipSync(Buffer.concat(blocks), { level: 9 });
}

async function http(method, url, body) {
  const res = await fetch(url, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: HTTP ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function publish(dir, v) {
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, v.version, 'package.json'), 'utf8'));
  if (manifest.version !== v.version) throw new Error(`${dir}: ${v.version} has version ${manifest.version}`);
  const name = manifest.name;
  const tgz = tarball(path.join(dir, v.version));
  const file = `${name}-${v.version}.tgz`;
  Object.assign(manifest, {
    _id: `${name}@${v.version}`,
    _npmUser: { name: v.publisher, email: `${v.publisher}@example.invalid` },
    maintainers: v.maintainers.map((m) => ({ name: m, email: `${m}@example.invalid` })),
    dist: {
      integrity: 'sha512-' + crypto.createHash('sha512').update(tgz).digest('base64'),
      shasum: crypto.createHash('sha1').update(tgz).digest('hex'),
      tarball: `${base}/${name}/-/${file}`,
    },
  });
  if (v.deprecated) manifest.deprecated = v.deprecated;
  await http('PUT', `${base}/${encodeURIComponent(name).replace('%40', '@')}`, {
    _id: name,
    name,
    description: manifest.description,
    'dist-tags': { [v.tag || 'latest']: v.version },
    versions: { [v.version]: manifest },
    access: null,
    _attachments: { [file]: { content_type: 'application/octet-stream', data: tgz.toString('base64'), length: tgz.length } },
  });
  return name;
}

// Set the release times that must look old, then read them back.
async function backdate(name, versions) {
  const file = path.join(storage, name, 'package.json');
  const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  const stamps = versions.filter((v) => v.published);
  for (const v of stamps) doc.time[v.version] = v.published;
  if (stamps.length) doc.time.created = stamps[0].published;
  const tmp = file + '.airlock-tmp';
  fs.writeFileSync(tmp, JSON.stringify(doc, null, 2));
  fs.renameSync(tmp, file);
  const got = await http('GET', `${base}/${encodeURIComponent(name).replace('%40', '@')}`);
  for (const v of versions) {
    const t = got.time && got.time[v.version];
    if (v.published ? t !== v.published : !t || Date.now() - Date.parse(t) > 3600e3)
      throw new Error(`${name}@${v.version}: registry shows time ${t}, want ${v.published || 'now'}`);
  }
}

(async () => {
  const pkgs = fs.readdirSync(fixtures).filter((d) => fs.existsSync(path.join(fixtures, d, 'fixture.json'))).sort();
  for (const d of pkgs) {
    const dir = path.join(fixtures, d);
    const spec = JSON.parse(fs.readFileSync(path.join(dir, 'fixture.json'), 'utf8'));
    let name;
    for (const v of spec.versions) name = await publish(dir, v);
    await backdate(name, spec.versions);
    console.error(`registry-fixtures: ${name} ${spec.versions.map((v) => v.version).join(' ')}`);
  }
})().catch((e) => {
  console.error('registry-fixtures: ' + e.message);
  process.exit(1);
});
