// The programs some tests drive: Chromium (the browser tests) and Python 3 with websockets and redis (a
// client written from the message shapes alone). Each is found through an environment variable, else on
// PATH, so that a contributor whose system installs them elsewhere can run the tests; a test that cannot
// find one fails (never skips) with a message naming what is missing and how to get it.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

interface Program {
  /** The environment variable that names its path. */
  readonly envVar: string;
  /** Names looked up on PATH, in order. */
  readonly names: readonly string[];
  /** What to install, for the error message. */
  readonly install: string;
}

const CHROMIUM: Program = {
  envVar: 'CHROMIUM_PATH',
  names: ['chromium', 'chromium-browser', 'google-chrome-stable', 'google-chrome'],
  install: 'install Chromium (Debian: apt-get install chromium; .ci/run does it)',
};
const PYTHON: Program = {
  envVar: 'PYTHON',
  names: ['python3', 'python'],
  install: 'install Python 3 with websockets and redis (Debian: apt-get install python3-websockets python3-redis; .ci/run does it)',
};

const isExecutable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/**
 * The program's path: `$envVar` if set (it must exist and pass `isUsable`), else the first of `names` on PATH
 * that passes it; throws naming what is missing.
 */
function find({ envVar, names, install }: Program, isUsable: (path: string) => boolean = () => true, what = names[0]): string {
  const fromEnv = process.env[envVar];
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!existsSync(fromEnv) || !isExecutable(fromEnv)) throw new Error(`${envVar}=${fromEnv} is not an executable file: ${install}`);
    if (!isUsable(fromEnv)) throw new Error(`${envVar}=${fromEnv} is not ${what}: ${install}`);
    return fromEnv;
  }
  const dirs = (process.env['PATH'] ?? '').split(delimiter).filter((d) => d !== '');
  let found = 0;
  for (const name of names) {
    for (const dir of dirs) {
      const path = join(dir, name);
      if (!isExecutable(path)) continue;
      found++;
      if (isUsable(path)) return path;
    }
  }
  const onPath = found > 0 ? `${found} ${names.join('/')} on PATH, none of them ${what},` : `none of ${names.join(', ')} is on PATH`;
  throw new Error(`${onPath} and ${envVar} is not set: ${install}, or set ${envVar} to its path`);
}

/** Chromium's path, from `CHROMIUM_PATH` or PATH. */
export const chromiumPath = (): string => find(CHROMIUM);

/**
 * A Python 3 that can import websockets and redis, from `PYTHON` or PATH (a pyenv or virtualenv python3
 * earlier on PATH without them is passed over for the system's).
 */
export function pythonPath(): string {
  const hasModules = (path: string): boolean =>
    spawnSync(path, ['-c', 'import sys, websockets, redis; sys.exit(0 if sys.version_info[0] == 3 else 1)'], {
      stdio: 'ignore',
      timeout: 20_000,
    }).status === 0;
  return find(PYTHON, hasModules, 'a Python 3 with the websockets and redis modules');
}

/** Headless Chromium through playwright-core, which never downloads a browser. */
export function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    // Without the background-networking flags Chromium keeps trying hosts this closed network refuses.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...extraArgs,
    ],
  });
}
