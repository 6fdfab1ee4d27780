// Runs the soak's TypeScript (and the src/ it imports) on plain Node 20 with the esbuild that is already a
// devDependency: `node --import ./test/soak/register.mjs test/soak/soak.ts`. Node 20 has no type stripping,
// and the soak must run outside vitest, because it forks the server into a process of its own.
import { register } from 'node:module';

register('./ts-loader.mjs', import.meta.url);
