// @ts-check
// The dashboard: one StreamManager feeding big numbers, uPlot charts, a disk table, a container table,
// an alert banner and the connection state. Everything from the stream is shown with textContent, never
// as HTML: container names and alert messages come from producers.
import { StreamManager } from 'system-stream/client';
import uPlot from 'uplot';

/** @typedef {import('system-stream/client').SystemMetric} SystemMetric */
/** @typedef {import('system-stream/client').Alert} Alert */
/** @typedef {import('system-stream/client').ContainerStatus} ContainerStatus */
/** @typedef {import('system-stream/client').StreamStatus} StreamStatus */
/** @typedef {import('system-stream/client').SourceStatus} SourceStatus */

/** Seconds of history the charts keep. */
const WINDOW_S = 300;
/** Narrowest time span a chart shows, in seconds. */
const MIN_SPAN_S = 60;
/** Live messages the latency median is taken over. */
const LATENCY_SAMPLES = 50;
const PALETTE = ['#2563eb', '#0d9488', '#d97706', '#9333ea', '#db2777', '#65a30d', '#0891b2', '#dc2626'];
const WARNING_PERCENT = 90;
const CRITICAL_PERCENT = 95;

/** @param {string} id */
function byTestId(id) {
  const el = document.querySelector(`[data-testid="${id}"]`);
  if (!el) throw new Error(`missing element ${id}`);
  return /** @type {HTMLElement} */ (el);
}

// ---------------------------------------------------------------- formatting

/** @param {number} value */
const percent = (value) => value.toFixed(1);

/** @param {number} bytes @returns {[string, string]} number and unit, binary prefixes */
function splitBytes(bytes) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let i = 0;
  // Switch units at 1000, not 1024, so that a number never needs four digits ("1.0 GiB", not "1020 MiB").
  while (Math.abs(value) >= 1000 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return [value >= 100 || i === 0 ? value.toFixed(0) : value.toFixed(1), units[i] ?? 'B'];
}

/** @param {number} bytes */
const formatBytes = (bytes) => splitBytes(bytes).join(' ');

/** @param {number} ms */
const clockTime = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });

const hhmm = new Intl.DateTimeFormat([], { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
const hhmmss = new Intl.DateTimeFormat([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });

/** A time axis label: `14:05` when every tick is on a whole minute, else `14:05:30`. @param {number} s @param {number[]} splits */
const axisTime = (s, splits) => (splits.every((t) => t % 60 === 0) ? hhmm : hhmmss).format(s * 1000);

/** @param {unknown} value */
const asNumber = (value) => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);

/** @param {HTMLElement} el @param {number} value */
function setLevel(el, value) {
  el.dataset['level'] = value >= CRITICAL_PERCENT ? 'critical' : value >= WARNING_PERCENT ? 'warning' : 'ok';
}

// ---------------------------------------------------------------- charts

/**
 * A uPlot line chart of percent series over the last {@link WINDOW_S} seconds. Samples of one sentinel tick
 * share a timestamp and become one row; a new series (a new mount) rebuilds the chart. Redraws at most
 * once per animation frame.
 */
class LiveChart {
  /** @param {HTMLElement} el @param {{ height: number, fill: boolean }} options */
  constructor(el, options) {
    this.el = el;
    this.height = options.height;
    this.fill = options.fill;
    /** @type {number[]} */
    this.xs = [];
    /** @type {{ source: string, color: string, ys: (number | null)[] }[]} */
    this.series = [];
    /** @type {uPlot | null} */
    this.plot = null;
    this.isScheduled = false;
    new ResizeObserver(() => this.plot?.setSize({ width: this.width(), height: this.height })).observe(el);
  }

  width() {
    return Math.max(200, Math.floor(this.el.clientWidth));
  }

  /** The color of a series, assigned in order of appearance. @param {string} source */
  colorOf(source) {
    return this.series.find((s) => s.source === source)?.color;
  }

  /** @param {string} source @param {number} timeS @param {number} value */
  push(source, timeS, value) {
    let series = this.series.find((s) => s.source === source);
    if (!series) {
      series = { source, color: PALETTE[this.series.length % PALETTE.length] ?? '#2563eb', ys: this.xs.map(() => null) };
      this.series.push(series);
      this.plot?.destroy();
      this.plot = null;
    }
    const last = this.xs.length - 1;
    const lastTime = this.xs[last];
    if (lastTime !== undefined && Math.abs(timeS - lastTime) < 0.5) {
      series.ys[last] = value; // the same tick as the row before
    } else if (lastTime === undefined || timeS > lastTime) {
      this.xs.push(timeS);
      for (const s of this.series) s.ys.push(null);
      series.ys[this.xs.length - 1] = value;
    } else {
      return; // older than the chart's newest row (a snapshot after a reconnect): already drawn or too late
    }
    let stale = 0;
    while (stale < this.xs.length && (this.xs[stale] ?? 0) < timeS - WINDOW_S) stale++;
    if (stale > 0) {
      this.xs.splice(0, stale);
      for (const s of this.series) s.ys.splice(0, stale);
    }
    this.schedule();
  }

  schedule() {
    if (this.isScheduled) return;
    this.isScheduled = true;
    requestAnimationFrame(() => {
      this.isScheduled = false;
      this.draw();
    });
  }

  draw() {
    /** @type {uPlot.AlignedData} */
    const data = [this.xs, ...this.series.map((s) => s.ys)];
    if (this.plot) {
      this.plot.setData(data);
      return;
    }
    const css = getComputedStyle(document.documentElement);
    const muted = css.getPropertyValue('--muted').trim() || '#64748b';
    const grid = css.getPropertyValue('--grid').trim() || '#e2e8f0';
    const font = '11px system-ui, -apple-system, "Segoe UI", sans-serif';
    this.plot = new uPlot(
      {
        width: this.width(),
        height: this.height,
        padding: [10, 28, 0, 0], // room on the right for the last time label
        legend: { show: false },
        cursor: { y: false, drag: { x: false, y: false, setScale: false }, points: { size: 7 } },
        scales: {
          // At least a minute wide, so that the first seconds do not fill the chart and the time axis
          // keeps its scale; then the last WINDOW_S seconds (older rows are dropped in push()).
          x: { time: true, range: (_u, min, max) => [Math.min(min, max - MIN_SPAN_S), max] },
          y: { range: [0, 100] },
        },
        axes: [
          {
            stroke: muted,
            font,
            space: 80,
            size: 30,
            incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600],
            grid: { stroke: grid, width: 1 },
            ticks: { stroke: grid, width: 1, size: 4 },
            values: (_u, splits) => splits.map((s) => axisTime(s, splits)),
          },
          {
            stroke: muted,
            font,
            size: 46,
            gap: 6,
            grid: { stroke: grid, width: 1 },
            ticks: { show: false },
            splits: () => [0, 25, 50, 75, 100],
            values: (_u, splits) => splits.map((v) => `${v} %`),
          },
        ],
        series: [
          {},
          ...this.series.map((s) => ({
            label: s.source,
            stroke: s.color,
            width: 2,
            fill: this.fill ? `${s.color}1f` : undefined,
            points: { show: false },
            spanGaps: true,
          })),
        ],
      },
      data,
      this.el,
    );
  }
}

// ---------------------------------------------------------------- hosts

/** Metrics that describe a whole host: their `source` is the host itself. */
const HOST_WIDE = new Set(['cpu', 'memory', 'load']);
/** The host of a metric whose producer names none (e.g. `source: "/"` for a disk). */
const UNNAMED_HOST = 'host';

/**
 * The host a metric belongs to. The sentinel says so in `meta.host`; otherwise a host-wide metric's
 * `source` is the host, and a mount's or an interface's is `<host>:<part>`.
 * @param {SystemMetric} m
 */
function hostOf(m) {
  const named = m.meta?.['host'];
  if (typeof named === 'string' && named !== '') return named;
  if (HOST_WIDE.has(m.metric_type)) return m.source;
  const colon = m.source.indexOf(':');
  return colon > 0 ? m.source.slice(0, colon) : UNNAMED_HOST;
}

/**
 * The mount or interface of a per-part metric: `meta.mount` / `meta.iface`, else `source` without its
 * `<host>:` prefix.
 * @param {SystemMetric} m @param {string} host
 */
function partOf(m, host) {
  const named = m.meta?.[m.metric_type === 'disk' ? 'mount' : 'iface'];
  if (typeof named === 'string' && named !== '') return named;
  return m.source.startsWith(`${host}:`) ? m.source.slice(host.length + 1) : m.source;
}

/**
 * Everything the dashboard knows about one host. Each host has its own charts, in its own element inside
 * each chart card; only the selected host's are shown.
 */
class HostView {
  /** @param {string} name */
  constructor(name) {
    this.name = name;
    /** Newest sample time shown per series, so that an older sample (a snapshot replayed) never overwrites it. */
    this.shownAt = new Map();
    /** @type {SystemMetric | undefined} */
    this.cpu = undefined;
    /** @type {SystemMetric | undefined} */
    this.memory = undefined;
    /** @type {SystemMetric | undefined} */
    this.load = undefined;
    /** @type {number | undefined} */
    this.cpuCount = undefined;
    /** @type {Map<string, SystemMetric>} by mount point */
    this.disks = new Map();
    /** @type {Map<string, { rx?: number, tx?: number }>} by interface */
    this.network = new Map();
    /** Time of the newest network sample. */
    this.networkAt = 0;
    const holder = (/** @type {string} */ id) => {
      const el = document.createElement('div');
      el.className = 'host-chart';
      el.dataset['host'] = name;
      byTestId(id).append(el);
      return el;
    };
    this.charts = {
      cpu: new LiveChart(holder('chart-cpu'), { height: 190, fill: true }),
      memory: new LiveChart(holder('chart-memory'), { height: 190, fill: true }),
      disk: new LiveChart(holder('chart-disk'), { height: 220, fill: false }),
    };
  }

  /** The mount the big number shows: `/` when there is one, else the fullest. */
  mainDisk() {
    const root = this.disks.get('/');
    if (root) return root;
    return [...this.disks.values()].sort((a, b) => b.value - a.value)[0];
  }

  /** The worst level among its CPU, memory and disks: the colour of its tab. */
  level() {
    const values = [this.cpu?.value, this.memory?.value, ...[...this.disks.values()].map((d) => d.value)];
    const worst = Math.max(-1, ...values.map((v) => v ?? -1));
    return worst >= CRITICAL_PERCENT ? 'critical' : worst >= WARNING_PERCENT ? 'warning' : 'ok';
  }
}

/** @type {Map<string, HostView>} in order of first appearance */
const hosts = new Map();
/** The host the cards and charts show: the first to appear, until another tab is chosen. */
let selected = /** @type {string | undefined} */ (undefined);
/** What the server says about itself (GET api/info), once it answered. */
let serverInfo = /** @type {{ hostname: string, name: string, version: string } | undefined} */ (undefined);

/** @param {string} name */
function hostView(name) {
  let view = hosts.get(name);
  if (!view) {
    view = new HostView(name);
    hosts.set(name, view);
    selected ??= name;
    showSelectedCharts();
    renderHeader();
  }
  return view;
}

/** @param {string} name */
function selectHost(name) {
  if (!hosts.has(name) || selected === name) return;
  selected = name;
  showSelectedCharts();
  renderCards();
  renderHostTabs();
  renderHeader();
}

function showSelectedCharts() {
  for (const el of document.querySelectorAll('.host-chart')) {
    /** @type {HTMLElement} */ (el).hidden = /** @type {HTMLElement} */ (el).dataset['host'] !== selected;
  }
}

// ---------------------------------------------------------------- state and rendering

const els = {
  host: byTestId('host'),
  connection: byTestId('connection-state'),
  connectionText: byTestId('connection-text'),
  latency: byTestId('latency-value'),
  banner: byTestId('alert-banner'),
  alertList: byTestId('alert-list'),
  hostList: byTestId('host-list'),
  cpu: byTestId('value-cpu'),
  cpuSub: byTestId('sub-cpu'),
  memory: byTestId('value-memory'),
  memorySub: byTestId('sub-memory'),
  disk: byTestId('value-disk'),
  diskSub: byTestId('sub-disk'),
  diskMount: byTestId('disk-main-mount'),
  rx: byTestId('value-net-rx'),
  rxUnit: byTestId('unit-net-rx'),
  tx: byTestId('value-net-tx'),
  txUnit: byTestId('unit-net-tx'),
  netSub: byTestId('sub-network'),
  diskBody: /** @type {HTMLTableSectionElement} */ (byTestId('disk-table').querySelector('tbody')),
  containerTable: byTestId('container-table'),
  containerBody: /** @type {HTMLTableSectionElement} */ (byTestId('container-table').querySelector('tbody')),
  containerCount: byTestId('container-count'),
  dashboard: byTestId('dashboard'),
  staleNote: byTestId('stale-note'),
  keyForm: /** @type {HTMLFormElement} */ (byTestId('key-form')),
  keyError: byTestId('key-error'),
};

/** @type {Map<string, { status: string, since: number }>} by container name */
const containers = new Map();
/** @type {Map<string, Alert>} by `metric_type:source` */
const alerts = new Map();
/** @type {number[]} */
const latencies = [];

/** @param {HTMLElement} el @param {string} text @param {number} timeMs */
function showNumber(el, text, timeMs) {
  el.textContent = text;
  el.dataset['time'] = String(timeMs);
}

/** @param {SystemMetric} m @param {boolean} isLive */
function onMetric(m, isLive) {
  const timeMs = Date.parse(m.time);
  if (isLive) recordLatency(Date.now() - timeMs);
  if (!['cpu', 'memory', 'load', 'disk', 'net_rx', 'net_tx'].includes(m.metric_type)) return; // not shown here
  const view = hostView(hostOf(m));
  const key = `${m.metric_type}:${m.source}`;
  if ((view.shownAt.get(key) ?? -Infinity) > timeMs) return;
  view.shownAt.set(key, timeMs);
  const timeS = timeMs / 1000;

  switch (m.metric_type) {
    case 'cpu':
      view.cpu = m;
      view.charts.cpu.push('cpu', timeS, m.value);
      break;
    case 'memory':
      view.memory = m;
      view.charts.memory.push('memory', timeS, m.value);
      break;
    case 'load':
      view.load = m;
      view.cpuCount = asNumber(m.meta?.['cpus']) ?? view.cpuCount;
      break;
    case 'disk': {
      const mount = partOf(m, view.name);
      view.disks.set(mount, m);
      view.charts.disk.push(mount, timeS, m.value);
      break;
    }
    default: {
      const iface = partOf(m, view.name);
      if (iface === 'lo') return;
      const entry = view.network.get(iface) ?? {};
      if (m.metric_type === 'net_rx') entry.rx = m.value;
      else entry.tx = m.value;
      view.network.set(iface, entry);
      view.networkAt = Math.max(view.networkAt, timeMs);
    }
  }
  if (view.name === selected) renderCards(m.metric_type);
  renderHostTabs();
}

/**
 * The cards of the selected host: all of them, or only the one `metricType` feeds.
 * @param {string} [metricType]
 */
function renderCards(metricType) {
  const view = selected === undefined ? undefined : hosts.get(selected);
  if (!view) return;
  const all = metricType === undefined;
  if ((all || metricType === 'cpu') && view.cpu) {
    showNumber(els.cpu, percent(view.cpu.value), Date.parse(view.cpu.time));
    setLevel(els.cpu, view.cpu.value);
  }
  if ((all || metricType === 'memory') && view.memory) {
    const m = view.memory;
    showNumber(els.memory, percent(m.value), Date.parse(m.time));
    setLevel(els.memory, m.value);
    const used = asNumber(m.meta?.['used_bytes']);
    const total = asNumber(m.meta?.['total_bytes']);
    els.memorySub.textContent =
      used !== undefined && total !== undefined ? `${formatBytes(used)} of ${formatBytes(total)} in use` : '\u00a0';
  }
  if ((all || metricType === 'load') && view.load) {
    const cores = view.cpuCount;
    els.cpuSub.textContent = `load ${view.load.value.toFixed(2)}${cores ? ` · ${cores} ${cores === 1 ? 'core' : 'cores'}` : ''}`;
  }
  if (all || metricType === 'disk') renderDisks(view);
  if (all || metricType === 'net_rx' || metricType === 'net_tx') renderNetwork(view);
  if (all) {
    for (const [el, m] of /** @type {const} */ ([
      [els.cpu, view.cpu],
      [els.memory, view.memory],
    ])) {
      if (!m) {
        el.textContent = '–';
        delete el.dataset['level'];
      }
    }
  }
}

/** @param {HostView} view */
function renderDisks(view) {
  const main = view.mainDisk();
  if (main) {
    showNumber(els.disk, percent(main.value), Date.parse(main.time));
    setLevel(els.disk, main.value);
    els.diskMount.textContent = partOf(main, view.name);
    const used = asNumber(main.meta?.['used_bytes']);
    const size = asNumber(main.meta?.['size_bytes']);
    els.diskSub.textContent =
      used !== undefined && size !== undefined ? `${formatBytes(used)} of ${formatBytes(size)} used` : `${view.disks.size} mounts`;
  }
  const rows = [...view.disks.entries()].sort(([a], [b]) => a.localeCompare(b));
  els.diskBody.replaceChildren(
    ...rows.map(([mountPoint, d]) => {
      const tr = document.createElement('tr');
      tr.dataset['testid'] = 'disk-row';
      tr.dataset['mount'] = mountPoint;
      tr.dataset['host'] = view.name;
      const mount = cell('');
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = view.charts.disk.colorOf(mountPoint) ?? 'transparent';
      mount.append(swatch, document.createTextNode(mountPoint));
      const fs = cell(String(d.meta?.['fs_type'] ?? d.meta?.['fs'] ?? ''), 'muted');
      const used = asNumber(d.meta?.['used_bytes']);
      const size = asNumber(d.meta?.['size_bytes']);
      const usedCell = cell(used !== undefined && size !== undefined ? `${formatBytes(used)} / ${formatBytes(size)}` : '', 'right muted');
      const use = cell('', 'right');
      const bar = document.createElement('span');
      bar.className = 'bar';
      const fill = document.createElement('span');
      fill.style.width = `${Math.min(100, Math.max(0, d.value))}%`;
      bar.append(fill);
      setLevel(bar, d.value);
      const value = document.createElement('span');
      value.className = 'bar-value';
      value.textContent = `${percent(d.value)} %`;
      use.append(bar, value);
      tr.append(mount, fs, usedCell, use);
      return tr;
    }),
  );
}

/** @param {HostView} view */
function renderNetwork(view) {
  let rx = 0;
  let tx = 0;
  for (const entry of view.network.values()) {
    rx += entry.rx ?? 0;
    tx += entry.tx ?? 0;
  }
  const [rxValue, rxUnit] = splitBytes(rx);
  const [txValue, txUnit] = splitBytes(tx);
  showNumber(els.rx, rxValue, view.networkAt);
  els.rxUnit.textContent = `${rxUnit}/s`;
  showNumber(els.tx, txValue, view.networkAt);
  els.txUnit.textContent = `${txUnit}/s`;
  const names = [...view.network.keys()].sort();
  els.netSub.textContent = names.length > 3 ? `${names.length} interfaces` : names.join(', ');
}

/** A tab per host, shown once more than one host publishes: its name, CPU, memory and worst level. */
function renderHostTabs() {
  els.hostList.hidden = hosts.size < 2;
  document.body.classList.toggle('is-fleet', hosts.size > 1);
  if (hosts.size < 2) return;
  const hostsInAlarm = new Set([...alerts.values()].map((a) => a.source.split(':')[0]));
  els.hostList.replaceChildren(
    ...[...hosts.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((view) => {
        const tab = document.createElement('button');
        tab.type = 'button';
        tab.className = 'host-tab';
        tab.dataset['testid'] = 'host-tab';
        tab.dataset['host'] = view.name;
        tab.dataset['level'] = hostsInAlarm.has(view.name) && view.level() === 'ok' ? 'warning' : view.level();
        tab.setAttribute('aria-pressed', String(view.name === selected));
        const dot = document.createElement('span');
        dot.className = 'dot';
        dot.setAttribute('aria-hidden', 'true');
        const name = document.createElement('span');
        name.className = 'host-name';
        name.textContent = view.name;
        const figures = document.createElement('span');
        figures.className = 'host-figures';
        figures.dataset['testid'] = 'host-figures';
        figures.textContent = `CPU ${view.cpu ? percent(view.cpu.value) : '–'} % · Mem ${view.memory ? percent(view.memory.value) : '–'} %`;
        tab.append(dot, name, figures);
        tab.addEventListener('click', () => selectHost(view.name));
        return tab;
      }),
  );
}

/** @param {ContainerStatus} c */
function onContainer(c) {
  const previous = containers.get(c.container);
  const timeMs = Date.parse(c.time);
  // A re-announcement of an unchanged state keeps the time the state began.
  containers.set(c.container, { status: c.status, since: previous?.status === c.status ? previous.since : timeMs });
  renderContainers();
}

const CONTAINER_LEVEL = /** @type {Record<string, string>} */ ({
  running: 'ok',
  created: 'neutral',
  paused: 'warning',
  restarting: 'warning',
  removing: 'warning',
  exited: 'critical',
  dead: 'critical',
  stopped: 'critical',
});

/** The sentinel names a container `<host>/<name>`; other producers may give a plain name. @param {string} full */
function splitContainer(full) {
  const slash = full.indexOf('/');
  return slash > 0 ? { host: full.slice(0, slash), name: full.slice(slash + 1) } : { host: '', name: full };
}

function renderContainers() {
  const names = [...containers.keys()].sort((a, b) => a.localeCompare(b));
  if (names.length === 0) return;
  const running = names.filter((n) => containers.get(n)?.status === 'running').length;
  els.containerCount.textContent = `${running} of ${names.length} running`;
  els.containerTable.classList.toggle(
    'has-hosts',
    names.some((n) => splitContainer(n).host !== ''),
  );
  els.containerBody.replaceChildren(
    ...names.map((full) => {
      const c = /** @type {{ status: string, since: number }} */ (containers.get(full));
      const { host, name } = splitContainer(full);
      const tr = document.createElement('tr');
      tr.dataset['testid'] = 'container-row';
      tr.dataset['container'] = full;
      tr.dataset['status'] = c.status;
      const status = cell('');
      const badge = document.createElement('span');
      badge.className = 'badge';
      badge.dataset['level'] = CONTAINER_LEVEL[c.status] ?? 'neutral';
      badge.textContent = c.status;
      status.append(badge);
      tr.append(cell(name, 'name'), cell(host, 'container-host muted'), status, cell(clockTime(c.since), 'right muted'));
      return tr;
    }),
  );
}

/** @param {Alert} a */
function onAlert(a) {
  const key = `${a.metric_type}:${a.source}`;
  const current = alerts.get(key);
  if (current && Date.parse(current.time) > Date.parse(a.time)) return; // a replayed older alert
  if (a.level === 'resolved') alerts.delete(key);
  else alerts.set(key, a);
  renderAlerts();
  renderHostTabs();
}

function renderAlerts() {
  const list = [...alerts.entries()].sort(([, a], [, b]) => (a.level === b.level ? 0 : a.level === 'critical' ? -1 : 1));
  els.banner.hidden = list.length === 0;
  els.banner.dataset['level'] = list.some(([, a]) => a.level === 'critical') ? 'critical' : 'warning';
  els.alertList.replaceChildren(
    ...list.map(([key, a]) => {
      const li = document.createElement('li');
      li.dataset['testid'] = 'alert';
      li.dataset['key'] = key;
      li.dataset['level'] = a.level;
      const level = document.createElement('span');
      level.className = 'alert-level';
      level.textContent = a.level;
      const message = document.createElement('span');
      message.className = 'alert-message';
      message.textContent = a.message;
      const since = document.createElement('span');
      since.className = 'alert-time';
      since.textContent = `since ${clockTime(Date.parse(a.time))}`;
      li.append(level, message, since);
      return li;
    }),
  );
}

/** @param {number} ms */
function recordLatency(ms) {
  latencies.push(ms);
  if (latencies.length > LATENCY_SAMPLES) latencies.shift();
  const sorted = [...latencies].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  els.latency.textContent = `${Math.max(0, Math.round(median))} ms`;
  els.latency.dataset['ms'] = String(Math.round(median));
}

/** @param {string} text @param {string} [className] */
function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

// ---------------------------------------------------------------- stale producers

/** The sources the server reports stale (their producer stopped publishing), with when each was last seen. @type {Map<string, string>} */
const staleSources = new Map();
/** The host the cards show: the `source` of its host-wide metrics (CPU, memory). */
let shownHost = /** @type {string | undefined} */ (undefined);

/** @param {SourceStatus} s */
function onSourceStatus(s) {
  if (s.status === 'stale') staleSources.set(s.source, s.last_seen);
  else staleSources.delete(s.source);
  renderStale();
}

/** Greys out the host's cards while its producer is silent, and says since when. */
function renderStale() {
  const lastSeen = shownHost === undefined ? undefined : staleSources.get(shownHost);
  if (lastSeen === undefined) {
    delete els.dashboard.dataset['staleHost'];
    els.staleNote.hidden = true;
    return;
  }
  els.dashboard.dataset['staleHost'] = /** @type {string} */ (shownHost);
  els.staleNote.textContent = `No data from ${shownHost} since ${clockTime(Date.parse(lastSeen))}: its producer has stopped publishing.`;
  els.staleNote.hidden = false;
}

// ---------------------------------------------------------------- connection state

let countdown = /** @type {ReturnType<typeof setInterval> | undefined} */ (undefined);

/** @param {StreamStatus} s */
function onState(s) {
  clearInterval(countdown);
  countdown = undefined;
  els.connection.dataset['state'] = s.state;
  els.connection.title = s.reason ?? '';
  document.body.classList.toggle('is-stale', s.state !== 'open');
  switch (s.state) {
    case 'connecting':
      els.connectionText.textContent = s.attempt ? `Reconnecting… (attempt ${s.attempt})` : 'Connecting…';
      break;
    case 'open':
      els.connectionText.textContent = 'Live';
      break;
    case 'degraded':
      els.connectionText.textContent =
        s.reason === 'redis_unavailable' ? 'Degraded: Redis down' : `Degraded: ${s.reason ?? 'no live data'}`;
      break;
    case 'reconnecting': {
      if (s.reason === 'offline') {
        els.connectionText.textContent = 'Offline: waiting for the network';
        break;
      }
      const next = s.nextAttemptAt ?? Date.now();
      const render = () => {
        const seconds = Math.max(0, Math.ceil((next - Date.now()) / 1000));
        els.connectionText.textContent = `Reconnecting in ${seconds} s`;
      };
      render();
      // Runs only while reconnecting; the next state change clears it.
      countdown = setInterval(render, 250);
      els.connection.dataset['attempt'] = String(s.attempt ?? 0);
      break;
    }
    case 'closed':
      if (s.code === 4401 || s.code === 4403) askForKey('The server refused this key.');
      else els.connectionText.textContent = s.reason === 'hidden' ? 'Paused while hidden' : 'Disconnected';
      break;
  }
}

// ---------------------------------------------------------------- start

/** @param {string} [error] */
function askForKey(error) {
  els.connection.dataset['state'] = 'closed';
  els.connectionText.textContent = error ? 'API key refused' : 'Not connected';
  els.keyForm.hidden = false;
  els.keyError.hidden = !error;
  els.keyError.textContent = error ?? '';
  const input = /** @type {HTMLInputElement} */ (els.keyForm.elements.namedItem('key'));
  input.focus();
}

els.keyForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const input = /** @type {HTMLInputElement} */ (els.keyForm.elements.namedItem('key'));
  const key = input.value.trim();
  if (!key) return;
  void signInAndStart(key, settings);
});

/**
 * The header names the host whose cards are shown: the selected tab's, which is not the server's own
 * when another host publishes to the same channel; then the server that serves the page.
 */
function renderHeader() {
  if (!els.host) return;
  const shown = selected ?? serverInfo?.hostname;
  if (shown === undefined) return;
  const app = serverInfo ? `${serverInfo.name} ${serverInfo.version}` : '';
  const servedBy = serverInfo && serverInfo.hostname !== shown ? `served by ${serverInfo.hostname}` : '';
  els.host.textContent = [shown, servedBy, app].filter(Boolean).join(' · ');
  document.title = `${shown} · System dashboard`;
}

async function showHost() {
  try {
    const res = await fetch('api/info', { cache: 'no-store' });
    if (!res.ok) return;
    serverInfo = await res.json();
    renderHeader();
  } catch {
    els.host.textContent = '';
  }
}

/**
 * The app's own sign-in: the API key, once, for an HttpOnly session cookie. The page keeps no key: it
 * connects with short-lived tokens from `dashboardToken()`.
 * @param {string} key
 */
async function signIn(key) {
  const res = await fetch('api/session', { method: 'POST', headers: { 'x-api-key': key }, cache: 'no-store' });
  return res.ok;
}

/** A short-lived stream token from the app's authenticated route; asked for before every connection. */
async function dashboardToken() {
  const res = await fetch('api/dashboard-token', { cache: 'no-store' });
  if (!res.ok) throw new Error(res.status === 401 ? 'not signed in' : `token route answered ${res.status}`);
  return /** @type {{ token: string }} */ (await res.json()).token;
}

/** @param {string} key @param {URLSearchParams} settings */
async function signInAndStart(key, settings) {
  els.keyForm.hidden = true;
  if (await signIn(key)) start(settings);
  else askForKey('The server refused this key.');
}

/** @param {URLSearchParams} settings */
function start(settings) {
  // A token is asked for before every connection; when it expires the server closes with 4440 and the
  // manager fetches a new one and reconnects at once, resuming where it was. A server that is down or full
  // is retried with backoff. All tabs of this dashboard share one connection (only the one holding it asks
  // for tokens); a tab hidden for 5 minutes (or `#…&hiddenTimeoutMs=…`) lets it go until it is shown again.
  const hiddenTimeoutMs = Number(settings.get('hiddenTimeoutMs') ?? NaN);
  const manager = new StreamManager({
    url: 'api/system/ws',
    apiKey: dashboardToken,
    shareAcrossTabs: true,
    historyMs: WINDOW_S * 1000, // charts full at once
    ...(Number.isFinite(hiddenTimeoutMs) ? { hiddenTimeoutMs } : {}),
  });
  // Envelopes of the snapshot (the first packet of every connection) are not live: no latency for them.
  /** @type {WeakSet<object>} */
  let replayed = new WeakSet();
  manager.on('snapshot', (envelopes) => {
    replayed = new WeakSet(envelopes);
  });
  manager.on('state', onState);
  manager.on('system_metric', (e) => {
    onMetric(e.data, !replayed.has(e));
    if ((e.data.metric_type === 'cpu' || e.data.metric_type === 'memory') && shownHost !== e.data.source) {
      shownHost = e.data.source;
      renderStale();
    }
  });
  manager.on('source_status', onSourceStatus);
  manager.on('container_status', (e) => onContainer(e.data));
  manager.on('alert', (e) => onAlert(e.data));
  manager.connect();
  addEventListener('pagehide', () => void manager.close());
}

const settings = new URLSearchParams(location.hash.slice(1));
const key = settings.get('key') ?? new URLSearchParams(location.search).get('key') ?? '';
void showHost();
if (key) {
  // The sign-in link: trade the key for a session and take it out of the address bar (and history).
  settings.delete('key');
  history.replaceState(null, '', `${location.pathname}${settings.size > 0 ? `#${settings}` : ''}`);
  void signInAndStart(key, settings);
} else {
  // Signed in on an earlier visit? The session cookie is enough to get a token.
  fetch('api/dashboard-token', { method: 'HEAD', cache: 'no-store' }).then(
    (res) => (res.ok ? start(settings) : askForKey()),
    () => askForKey(),
  );
}
