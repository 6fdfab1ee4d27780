import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// `npm pack` runs in a copy of the package (its sources, configs and docs, with node_modules linked), so
// that rebuilding dist/ there never races the other tests that read this folder's dist/. First the copy
// runs `npm run compile`, which deletes dist/ and with it the type rollups, as `npm run example` does;
// then `npm pack --dry-run --json`, whose prepack must build them again.
const root = fileURLToPath(new URL('../../', import.meta.url));
const copy = `${root}temp/pack-${randomUUID()}`;
const COPIED = [
  'package.json',
  'tsconfig.json',
  'README.md',
  'LICENSE',
  'CHANGELOG.md',
  'asyncapi.yaml',
  'src',
  'schemas',
  'etc',
  'docs',
  'scripts',
];

interface PackageJson {
  readonly homepage: string;
  readonly repository: { readonly type: string; readonly url: string };
  readonly bugs: { readonly url: string };
  readonly exports: Record<string, string | Record<string, string>>;
  readonly bin: Record<string, string>;
  readonly files: readonly string[];
}
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as PackageJson;

let packed: Set<string>;
let rollupsAfterCompile: string[];

const npm = (args: string[]): string =>
  execFileSync('npm', args, {
    cwd: copy,
    encoding: 'utf8',
    timeout: 280_000,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });

beforeAll(() => {
  mkdirSync(copy, { recursive: true });
  for (const name of COPIED) if (existsSync(`${root}${name}`)) cpSync(`${root}${name}`, `${copy}/${name}`, { recursive: true });
  for (const name of ['api-extractor.json', 'api-extractor.client.json', 'api-extractor.publisher.json', 'api-extractor.sentinel.json']) {
    cpSync(`${root}${name}`, `${copy}/${name}`);
  }
  symlinkSync(realpathSync(`${root}node_modules`), `${copy}/node_modules`);
  npm(['run', 'compile']);
  rollupsAfterCompile = ['system-stream.d.ts', 'system-stream-client.d.ts'].filter((f) => existsSync(`${copy}/dist/${f}`));
  // Lifecycle scripts print to stdout too; the JSON report is the last thing npm writes.
  const out = npm(['pack', '--dry-run', '--json']);
  const report = JSON.parse(out.slice(out.lastIndexOf('\n[\n') + 1)) as { files: { path: string }[] }[];
  packed = new Set(report[0]!.files.map((f) => f.path));
}, 300_000);

afterAll(() => {
  rmSync(copy, { recursive: true, force: true });
});

/** Every file an `exports` target names (conditions and patterns expanded against what was packed). */
function exportTargets(): string[] {
  const targets: string[] = [];
  for (const value of Object.values(pkg.exports)) targets.push(...(typeof value === 'string' ? [value] : Object.values(value)));
  return targets.map((t) => t.replace(/^\.\//, ''));
}

describe('npm pack', () => {
  it('starts from a dist/ without the type rollups (the copy ran `npm run compile`)', () => {
    expect(rollupsAfterCompile).toEqual([]);
  });

  it("ships every exports entry's types and default file, whatever ran before it", () => {
    const targets = exportTargets();
    expect(targets).toEqual(
      expect.arrayContaining([
        'dist/system-stream.d.ts',
        'dist/system-stream-sentinel.d.ts',
        'dist/sentinel.js',
        'dist/system-stream-client.js',
      ]),
    );
    for (const target of targets) {
      if (target.includes('*')) {
        const pattern = new RegExp(`^${target.replace(/[.]/g, '\\.').replace('*', '[^/]+')}$`);
        expect([...packed].filter((f) => pattern.test(f)).length, target).toBeGreaterThan(0);
      } else {
        expect(packed, target).toContain(target);
      }
    }
    for (const [name, value] of Object.entries(pkg.exports)) {
      if (typeof value === 'object') expect(Object.keys(value)[0], `${name}: types first`).toBe('types');
    }
  });

  it('ships the bin, LICENSE, CHANGELOG.md, README.md and the JSON Schemas', () => {
    for (const bin of Object.values(pkg.bin)) expect(packed).toContain(bin.replace(/^\.\//, ''));
    for (const file of ['LICENSE', 'CHANGELOG.md', 'README.md', 'package.json']) expect(packed).toContain(file);
    for (const schema of ['message', 'system-metric', 'container-status', 'alert']) expect(packed).toContain(`schemas/${schema}.json`);
    expect(readFileSync(`${root}LICENSE`, 'utf8')).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} system-stream contributors\n/);
    expect(readFileSync(`${root}CHANGELOG.md`, 'utf8')).toMatch(/^## \[0\.1\.0\]/m);
  });

  it('ships asyncapi.yaml when the package has one', () => {
    expect(pkg.files).toContain('asyncapi.yaml');
    if (existsSync(`${root}asyncapi.yaml`)) expect(packed).toContain('asyncapi.yaml');
    else expect(packed).not.toContain('asyncapi.yaml');
  });

  it('ships no sources, tests, maps or build leftovers', () => {
    const unexpected = [...packed].filter(
      (f) =>
        !/^(dist\/.+\.js|dist\/system-stream(-[a-z]+)?\.d\.ts|schemas\/[a-z-]+\.json|docs\/[\w-]+\.(md|json|png)|asyncapi\.yaml|LICENSE|CHANGELOG\.md|README\.md|package\.json)$/.test(
          f,
        ),
    );
    expect(unexpected).toEqual([]);
  });

  it('ships the user docs: producers, topologies, the Grafana dashboard and every docs/*.md', () => {
    for (const doc of ['docs/producers.md', 'docs/topologies.md', 'docs/grafana-dashboard.json']) expect(packed).toContain(doc);
    const docs = readdirSync(`${root}docs`).filter((f) => f.endsWith('.md'));
    expect(docs.length).toBeGreaterThanOrEqual(3);
    for (const doc of docs) expect(packed).toContain(`docs/${doc}`);
  });

  it('every relative link of the README (docs/, the contract, the example excepted) resolves to a packed file', () => {
    const readme = readFileSync(`${root}README.md`, 'utf8');
    // Markdown links and images with a relative target, without their #fragment.
    const targets = [...readme.matchAll(/\]\(((?!https?:|#|mailto:)[^)\s#]+)(?:#[^)]*)?\)/g)].map((m) => m[1]!.replace(/^\.\//, ''));
    const toDocs = targets.filter((t) => t.startsWith('docs/'));
    expect(toDocs.length).toBeGreaterThanOrEqual(5);
    // example/ and CONTRIBUTING.md are for a clone of the repository; the README says so where it links them.
    const shipped = targets.filter((t) => !/^(example\/|CONTRIBUTING\.md$)/.test(t));
    expect(shipped.filter((t) => !packed.has(t))).toEqual([]);
  });

  it('names its repository, homepage and issue tracker', () => {
    expect(pkg.repository).toEqual({ type: 'git', url: expect.stringMatching(/^git\+https:\/\/github\.com\/[\w-]+\/[\w-]+\.git$/) });
    const repo = pkg.repository.url.replace(/^git\+/, '').replace(/\.git$/, '');
    expect(pkg.homepage.startsWith(repo)).toBe(true);
    expect(pkg.bugs).toEqual({ url: `${repo}/issues` });
  });
});
