// Writes the JSON Schemas (src/protocol/schemas.ts, built into dist/) to schemas/<name>.json for producers in
// other languages. Run by `npm run schemas`; test/unit/schemas.test.ts fails when the files are stale.
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { schemaFiles } = await import(join(root, 'dist', 'protocol', 'schemas.js'));
const folder = join(root, 'schemas');

await mkdir(folder, { recursive: true });
// Remove schema files that no longer exist in schemaFiles, so a rename does not leave a stale copy behind.
for (const name of await readdir(folder)) {
  if (name.endsWith('.json') && !Object.hasOwn(schemaFiles, name)) await rm(join(folder, name));
}
for (const [name, schema] of Object.entries(schemaFiles)) {
  await writeFile(join(folder, name), `${JSON.stringify(schema, null, 2)}\n`);
  console.log(`wrote schemas/${name}`);
}
