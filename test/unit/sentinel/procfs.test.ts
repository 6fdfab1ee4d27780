import { describe, expect, it } from 'vitest';
import { dockerSocketFromEnv, toContainers } from '../../../src/sentinel/docker-api.js';
import {
  cpuPercent,
  dfBytes,
  dfMounts,
  filesystemEntry,
  isListedFilesystem,
  parseCpuTimes,
  parseMeminfo,
  parseMountinfo,
  parseNetDev,
} from '../../../src/sentinel/procfs.js';

const bytes = (text: string): [Uint8Array, number] => {
  const buf = Buffer.from(text, 'latin1');
  return [buf, buf.length];
};

describe('parseCpuTimes (/proc/stat)', () => {
  const STAT = [
    'cpu  100 20 30 400 50 6 7 8 9 0',
    'cpu0 50 10 15 200 25 3 3 4 4 0',
    'cpu1 50 10 15 200 25 3 4 4 5 0',
    'intr 12345 0 0',
    'ctxt 999',
    'processes 4242',
    '',
  ].join('\n');

  it('counts user, nice, system, irq, steal and guest as busy, idle on top for the total, iowait and softirq in neither', () => {
    // busy = 100 + 20 + 30 + 6 + 8 + 9; idle 400; iowait 50 and softirq 7 left out, as si.currentLoad() does.
    expect(parseCpuTimes(...bytes(STAT))).toEqual({ busy: 173, total: 573, cpuCount: 2 });
  });

  it('reads only the bytes given (the buffer is reused and may hold an older, longer read)', () => {
    const buf = Buffer.alloc(4096, 0x39);
    const n = buf.write(STAT, 'latin1');
    expect(parseCpuTimes(buf, n)).toEqual({ busy: 173, total: 573, cpuCount: 2 });
  });

  it('is null for a file that does not start with the aggregate cpu line', () => {
    expect(parseCpuTimes(...bytes('intr 1 2 3\n'))).toBeNull();
    expect(parseCpuTimes(...bytes(''))).toBeNull();
  });

  it('computes % busy between two readings, a zero interval counting as one tick', () => {
    expect(cpuPercent({ busy: 100, total: 1000, cpuCount: 2 }, { busy: 150, total: 1200, cpuCount: 2 })).toBe(25);
    expect(cpuPercent({ busy: 100, total: 1000, cpuCount: 2 }, { busy: 100, total: 1000, cpuCount: 2 })).toBe(0);
  });
});

describe('parseMeminfo', () => {
  it('reads total and active = total − available, in bytes', () => {
    const text = 'MemTotal:       24683748 kB\nMemFree:        20000000 kB\nMemAvailable:   23000000 kB\nBuffers:          4096 kB\n';
    expect(parseMeminfo(text)).toEqual({ total: 24683748 * 1024, active: (24683748 - 23000000) * 1024 });
  });

  it('without MemAvailable (kernels before 3.14) counts free + buffers + cached + slab as available, as si.mem() does', () => {
    const text = 'MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 10 kB\nCached: 200 kB\nSwapCached: 5 kB\nSlab: 40 kB\n';
    expect(parseMeminfo(text)).toEqual({ total: 1000 * 1024, active: (1000 - 350) * 1024 });
  });

  it('is null without a total', () => {
    expect(parseMeminfo('MemFree: 100 kB\n')).toBeNull();
  });
});

describe('parseNetDev', () => {
  it('reads received and sent bytes per interface, skipping the two header lines', () => {
    const text = [
      'Inter-|   Receive                                                |  Transmit',
      ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
      '    lo: 1292085763  243305    0    0    0     0          0         0 1292085763  243305    0    0    0     0       0          0',
      '  eth0: 267395409   10668    0    0    0     0          0         0   913548    7617    0    0    0     0       0          0',
      'veth1a2b:12 1 0 0 0 0 0 0 34 1 0 0 0 0 0 0',
      '',
    ].join('\n');
    expect([...parseNetDev(text)]).toEqual([
      ['lo', { rx: 1292085763, tx: 1292085763 }],
      ['eth0', { rx: 267395409, tx: 913548 }],
      ['veth1a2b', { rx: 12, tx: 34 }],
    ]);
  });
});

describe('parseMountinfo', () => {
  it('reads device, root, mount point, type and source, with optional fields and octal escapes', () => {
    const text = [
      '26 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard',
      '40 26 254:0 /srv/my\\040data /mnt/with\\040space rw,relatime master:2 - ext4 /dev/vda rw',
      'garbage line',
      '',
    ].join('\n');
    expect(parseMountinfo(text)).toEqual([
      { device: '254:0', root: '/', mount: '/', type: 'ext4', source: '/dev/vda' },
      { device: '254:0', root: '/srv/my data', mount: '/mnt/with space', type: 'ext4', source: '/dev/vda' },
    ]);
  });
});

describe('dfMounts: the entries df -kPTx squashfs lists', () => {
  const me = (device: string, mount: string, type: string, source: string, root = '/') => ({ device, root, mount, type, source });

  it('leaves out pseudo filesystems and squashfs', () => {
    const mounts = dfMounts([
      me('0:20', '/proc', 'proc', 'proc'),
      me('0:21', '/sys', 'sysfs', 'sysfs'),
      me('0:23', '/dev/pts', 'devpts', 'devpts'),
      me('7:0', '/snap/core/1', 'squashfs', '/dev/loop0'),
      me('254:0', '/', 'ext4', '/dev/vda'),
    ]);
    expect(mounts.map((m) => m.mount)).toEqual(['/']);
  });

  it('lists a device once: the mount nearer the root, unless that one is a bind mount of a deeper directory', () => {
    expect(dfMounts([me('254:0', '/srv/data', 'ext4', '/dev/vda'), me('254:0', '/', 'ext4', '/dev/vda')]).map((m) => m.mount)).toEqual([
      '/',
    ]);
    expect(
      dfMounts([me('254:0', '/', 'ext4', '/dev/vda'), me('254:0', '/srv/data', 'ext4', '/dev/vda', '/data')]).map((m) => m.mount),
    ).toEqual(['/']);
    expect(
      dfMounts([me('254:1', '/var/lib/app', 'ext4', '/dev/vdb', '/'), me('254:1', '/app', 'ext4', '/dev/vdb', '/deep/dir')]).map(
        (m) => m.mount,
      ),
    ).toEqual(['/var/lib/app']);
  });

  it('prefers a source with a / (a real device) for the same device', () => {
    expect(dfMounts([me('254:0', '/', 'ext4', 'rootdev'), me('254:0', '/x', 'ext4', '/dev/vda')]).map((m) => m.source)).toEqual([
      '/dev/vda',
    ]);
  });

  it('a mount over the same mount point hides the one below it', () => {
    const mounts = dfMounts([me('0:22', '/dev/shm', 'tmpfs', 'tmpfs'), me('0:26', '/dev/shm', 'tmpfs', 'tmpfs')]);
    expect(mounts).toEqual([me('0:26', '/dev/shm', 'tmpfs', 'tmpfs')]);
  });

  it('keeps every container overlay (one device each)', () => {
    const mounts = dfMounts([
      me('254:0', '/', 'ext4', '/dev/vda'),
      me('0:50', '/var/lib/docker/overlay2/a/merged', 'overlay', 'overlay'),
      me('0:51', '/var/lib/docker/overlay2/b/merged', 'overlay', 'overlay'),
    ]);
    expect(mounts.map((m) => m.mount)).toEqual(['/', '/var/lib/docker/overlay2/a/merged', '/var/lib/docker/overlay2/b/merged']);
  });
});

describe("isListedFilesystem: systeminformation's filter on df's list", () => {
  it.each([
    ['/dev/vda', 'ext4', '/', true],
    ['/dev/sdb1', 'xfs', '/var/lib/docker', true],
    ['tmpfs', 'tmpfs', '/dev/shm', false],
    ['devtmpfs', 'devtmpfs', '/dev', false],
    ['tmpfs', 'tmpfs', '/', true], // the root is always listed
    ['server:/export', 'nfs4', '/mnt/nfs', true],
    ['overlay', 'overlay', '/var/lib/docker/overlay2/a/merged', true],
    ['zpool/data', 'zfs', '/data', true],
  ])('%s (%s) on %s: %s', (source, type, mount, listed) => {
    expect(isListedFilesystem(source, type, mount)).toBe(listed);
  });
});

describe('filesystemEntry: what df -k prints, in bytes', () => {
  const vda = { device: '254:0', root: '/', mount: '/', type: 'ext4', source: '/dev/vda' };

  it('size, used (blocks − free), available and use % = used / (used + available), 2 decimals', () => {
    // df -kPT printed: 264212084 1K-blocks, 23986984 used, 82403928 available, for this statfs.
    const st = { bsize: 4096, blocks: 66053021, bfree: 60056275, bavail: 20600982 };
    expect(filesystemEntry(vda, st)).toEqual({
      fs: '/dev/vda',
      type: 'ext4',
      size: 264212084 * 1024,
      used: 23986984 * 1024,
      available: 82403928 * 1024,
      use: Number(((100 * 23986984) / (23986984 + 82403928)).toFixed(2)),
      mount: '/',
    });
  });

  it('rounds blocks smaller than 1 KiB up to whole KiB, as df does', () => {
    expect(dfBytes(3, 512)).toBe(2048);
    expect(dfBytes(4, 512)).toBe(2048);
  });

  it('is null for a filesystem of size 0 (df leaves those out)', () => {
    expect(filesystemEntry(vda, { bsize: 4096, blocks: 0, bfree: 0, bavail: 0 })).toBeNull();
  });
});

describe('toContainers: GET /containers/json?all=1 as si.dockerContainers(true) read it', () => {
  it('takes Names[0] without its slash and State; needs a string Id', () => {
    expect(
      toContainers([
        { Id: 'a1', Names: ['/api', '/alias'], State: 'running' },
        { Id: 'b2', Names: ['/backup'], State: 'exited' },
        { Id: 'c3', State: 'running' },
        { Names: ['/no-id'], State: 'running' },
        null,
      ]),
    ).toEqual([
      { name: 'api', state: 'running' },
      { name: 'backup', state: 'exited' },
    ]);
  });

  it('is null for an answer that is not a list (an error object)', () => {
    expect(toContainers({ message: 'client version too old' })).toBeNull();
  });
});

describe('dockerSocketFromEnv', () => {
  it.each([
    [{}, '/var/run/docker.sock'],
    [{ DOCKER_HOST: 'unix:///run/user/1000/podman/podman.sock' }, '/run/user/1000/podman/podman.sock'],
    [{ DOCKER_HOST: 'tcp://10.0.0.5:2375' }, '/var/run/docker.sock'],
    [{ DOCKER_SOCKET: '/tmp/docker.sock' }, '/tmp/docker.sock'],
    [{ DOCKER_HOST: 'unix:///a.sock', DOCKER_SOCKET: '/b.sock' }, '/a.sock'],
  ])('%j -> %s', (env, path) => {
    expect(dockerSocketFromEnv(env)).toBe(path);
  });
});
