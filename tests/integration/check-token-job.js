// check-token-job.js RECORD [--pem]: the record of a job on a project
// that depends on @airlock-private/secret-lib (test_update_regtoken*.sh):
// the private update was planned, both installs passed, and in both test
// stages the install and test hunts (tests/lib/hunt.js) finished, saw
// enough, found the planted decoy (and with --pem the planted PEM key)
// and nothing else: no token, no private key of the job's.
'use strict';
const [recPath, ...opts] = process.argv.slice(2);
const pem = opts.includes('--pem');
const r = JSON.parse(require('fs').readFileSync(recPath, 'utf8'));

function die(msg) { console.error('check-token-job: ' + msg); process.exit(1); }

const u = (r.plan && r.plan.updates || []).map(x => x.name + '@' + x.version);
if (!u.some(x => /^@airlock-private\/secret-lib@2\.0\.0$/.test(x)))
  die('the private update was not planned: ' + JSON.stringify(r.plan));
const st = Object.fromEntries(r.stages.map(s => [s.name, s]));
for (const s of ['baseline-install', 'install'])
  if (!st[s] || st[s].result !== 'passed')
    die(s + ' did not pass: ' + JSON.stringify(st[s]));
const planted = [/ FOUND decoy /];
if (pem) planted.push(/ FOUND pem-private-key in \/work\/decoy-key\.pem$/);
for (const stage of ['baseline-test', 'test']) {
  const f = (r.report && r.report.failures || []).find(x => x.stage === stage);
  if (!f) die('no ' + stage + ' failure: ' + JSON.stringify(r.report));
  const log = f.log_excerpt;
  for (const h of ['install', 'test']) {
    const m = new RegExp(h + ' hunt done: files ([0-9]+) .*environ ([0-9]+), ' +
      'cmdline [0-9]+, mem ([0-9]+) \\(denied ([0-9]+)\\).*fds ([0-9]+)').exec(log);
    if (!m) die(stage + ': the ' + h + ' hunt did not finish: ' + log);
    const [files, environ, mem, , fds] = m.slice(1).map(Number);
    if (files < 10 || environ < 2 || mem < 1 || fds < 3)
      die(stage + ': the ' + h + ' hunt saw too little: ' + m[0]);
    if (!new RegExp(h + ' FOUND decoy in /work/decoy.txt').test(log))
      die(stage + ': the ' + h + ' hunt missed the decoy: ' + log);
    if (pem && !new RegExp(h + ' FOUND pem-private-key in /work/decoy-key.pem').test(log))
      die(stage + ': the ' + h + ' hunt missed the decoy key: ' + log);
  }
  const found = log.split('\n').filter(l => / FOUND /.test(l) &&
                                            !planted.some(p => p.test(l)));
  if (found.length) die(stage + ': ' + found.join('; '));
}
console.log('check-token-job: planned, installed, the hunts found only the decoys');
