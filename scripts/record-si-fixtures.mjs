// Records what systeminformation returns on this machine, as the sentinel's sampler sees it, into
// test/fixtures/si/: the first sample (CPU priming, no network rates yet) and a steady one a second
// later. test/unit/sentinel/collect.test.ts maps them to envelopes. Run after `npx tsc -p tsconfig.json`:
//   node scripts/record-si-fixtures.mjs
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { sampleSystem } = await import(join(root, 'dist', 'sentinel', 'sample.js'));
const folder = join(root, 'test', 'fixtures', 'si');

const first = await sampleSystem();
await sleep(1000);
const steady = await sampleSystem();
for (const [name, sample] of [
  ['first-sample.json', first],
  ['steady-sample.json', steady],
]) {
  await writeFile(join(folder, name), `${JSON.stringify(sample, null, 2)}\n`);
  console.log(`wrote test/fixtures/si/${name}`);
}
