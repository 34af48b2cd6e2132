// check-diff.js OLD NEW RECORD: the new package.json differs from the old
// one only inside the range strings the job record lists as updates (the
// proposed ones, after culprit isolation), and
// every other byte (indentation, order, line endings) is unchanged.
'use strict';
const fs = require('fs');
const [oldPath, newPath, recordPath] = process.argv.slice(2);
const oldText = fs.readFileSync(oldPath, 'utf8');
const newText = fs.readFileSync(newPath, 'utf8');
const record = JSON.parse(fs.readFileSync(recordPath, 'utf8'));
// After culprit isolation the branch carries only the proposed updates.
const iso = record.isolation || (record.groups && record.groups[0] &&
  record.groups[0].isolation);
const updates = record.plan.updates.filter(u =>
  !iso || !iso.proposed || iso.proposed.includes(u.name));

function die(msg) { console.error('check-diff: ' + msg); process.exit(1); }

// Rebuild the new text from the old one by applying the recorded updates
// to the exact "name": "range" pairs; anything else differing is a bug.
let expected = oldText;
for (const u of updates) {
  const key = JSON.stringify(u.name) + ':';
  const at = expected.indexOf(key);
  if (at < 0) die('update for ' + u.name + ' not in the old manifest');
  const from = expected.indexOf(JSON.stringify(u.from), at);
  if (from < 0) die('old range of ' + u.name + ' not found');
  expected = expected.slice(0, from) + JSON.stringify(u.to) +
    expected.slice(from + JSON.stringify(u.from).length);
}
if (expected !== newText) die('bytes outside the updated ranges changed');
if (updates.length === 0) die('no updates recorded');
console.log('check-diff: ' + updates.length + ' range(s) changed, nothing else');
