// Writes asyncapi.yaml (the wire contract) from scripts/asyncapi-document.mjs and the compiled schemas.
// Run by `npm run asyncapi`; test/unit/asyncapi.test.ts fails when the committed file is stale.
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { buildAsyncApiDocument } from './asyncapi-document.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const schemas = await import(join(root, 'dist', 'protocol', 'schemas.js'));
const { version } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
await writeFile(join(root, 'asyncapi.yaml'), stringify(buildAsyncApiDocument(schemas, { version }), { lineWidth: 0 }));
console.log('wrote asyncapi.yaml');
