// The live dashboard. Plain JavaScript that the browser runs as it is (no build step), a client
// of the public API only: the Stats API (aggregate, timeseries, breakdown), the boundary, the
// batch runs and the compare report, and the realtime stream (Server-Sent Events read with
// fetch, so the read key travels in the Authorization header as for every other call).
//
// State lives in the URL (/<site>?period=7d&filters=event:page==/pricing&auth=<key>), so every
// view is a link; a link with ?auth= is a shared link, as Plausible's.
/* global uPlot */

const KEY_STORAGE = 'pv-read-key';
const PERIOD_INTERVAL = { day: 'hour', '7d': 'date', '30d': 'date', month: 'date', '6mo': 'month', '12mo': 'month', custom: 'date' };
const PERIODS = Object.keys(PERIOD_INTERVAL);
/** The breakdown panels: a property of the Stats API, the key its rows carry the value under. */
const PANELS = [
  { property: 'event:page', key: 'page', title: 'Top pages', filterLabel: 'Page' },
  { property: 'visit:source', key: 'source', title: 'Sources', filterLabel: 'Source' },
  { property: 'visit:device', key: 'device', title: 'Devices', filterLabel: 'Device' },
  { property: 'visit:browser', key: 'browser', title: 'Browsers', filterLabel: 'Browser' },
  { property: 'visit:os', key: 'os', title: 'Operating systems', filterLabel: 'OS' },
  { property: 'visit:country', key: 'country', title: 'Countries', filterLabel: 'Country' },
];
/** The top stats; session metrics show once the API answers them (and not with filters, which they do not support). */
const STATS = [
  { metric: 'visitors', label: 'Unique visitors', charted: true },
  { metric: 'pageviews', label: 'Total page views', charted: true },
  { metric: 'visits', label: 'Visits', session: true },
  { metric: 'bounce_rate', label: 'Bounce rate', session: true, lowerIsBetter: true },
  { metric: 'visit_duration', label: 'Visit duration', session: true },
];
/** At most one reload of the panels per this long when pushed changes arrive (ms). */
const RELOAD_ON_PUSH_MS = 15_000;
const RECONNECT_MS = [1000, 2000, 5000, 10_000];

const $ = (id) => document.getElementById(id);
const number = new Intl.NumberFormat('en');

const state = {
  site: null,
  period: '7d',
  /** [first, last] days of a custom range (YYYY-MM-DD). */
  custom: null,
  /** [{ property, values: [string] }] */
  filters: [],
  key: null,
  charted: 'visitors',
  sessions: true,
  loadedAt: 0,
  lastVersion: null,
};

class ApiFailure extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

// ---- the URL, the key ----------------------------------------------------------------------

function readLocation() {
  const params = new URLSearchParams(location.search);
  const site = decodeURIComponent(location.pathname.slice(1));
  state.site = site === '' ? null : site;
  const period = params.get('period');
  state.period = PERIODS.includes(period) ? period : '7d';
  const date = params.get('date');
  state.custom = state.period === 'custom' && date !== null && /^\d{4}-\d{2}-\d{2},\d{4}-\d{2}-\d{2}$/.test(date) ? date.split(',') : null;
  if (state.period === 'custom' && state.custom === null) state.period = '7d';
  state.filters = parseFilters(params.get('filters') ?? '');
  const auth = params.get('auth');
  if (auth !== null && auth !== '') state.key = auth;
  else state.key = sessionStorage.getItem(KEY_STORAGE);
}

function writeLocation() {
  const params = new URLSearchParams();
  if (state.period !== '7d') params.set('period', state.period);
  if (state.custom !== null) params.set('date', state.custom.join(','));
  if (state.filters.length > 0) params.set('filters', filtersText(state.filters));
  // A shared link keeps its key in the URL; a key typed in stays in this tab's storage only.
  const auth = new URLSearchParams(location.search).get('auth');
  if (auth !== null) params.set('auth', auth);
  const query = params.toString();
  history.replaceState(null, '', `/${encodeURIComponent(state.site ?? '')}${query === '' ? '' : `?${query}`}`);
  document.title = `${state.site ?? 'No site'} · Page-view analytics`;
}

// Plausible's filter syntax: `;` between filters, `|` between alternatives, `\` escapes them.
const escapeValue = (v) => v.replace(/[\\|;*]/g, (c) => `\\${c}`);
function filtersText(filters) {
  return filters.map((f) => `${f.property}==${f.values.map(escapeValue).join('|')}`).join(';');
}
function parseFilters(text) {
  const filters = [];
  for (const part of text.split(/(?<!\\);/)) {
    const m = /^([a-z_:]+)==(.+)$/.exec(part.trim());
    if (m === null) continue;
    const values = m[2].split(/(?<!\\)\|/).map((v) => v.replace(/\\([\\|;*])/g, '$1'));
    filters.push({ property: m[1], values });
  }
  return filters;
}

// ---- the API -------------------------------------------------------------------------------

async function api(path, query = {}, init = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
  const headers = state.key === null ? {} : { Authorization: `Bearer ${state.key}` };
  const res = await fetch(url, { ...init, headers: { Accept: 'application/json', ...headers } });
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (!res.ok) {
    const message = typeof body?.error === 'string' ? body.error : (body?.error?.message ?? body?.message ?? `HTTP ${res.status}`);
    throw new ApiFailure(res.status, message, body);
  }
  return body;
}

/** The range parameters of the current period. */
function rangeQuery() {
  return state.period === 'custom' ? { period: 'custom', date: state.custom.join(',') } : { period: state.period };
}

// ---- formatting ----------------------------------------------------------------------------

function formatMetric(metric, value) {
  if (value === null || value === undefined) return '–';
  if (metric === 'bounce_rate') return `${Math.round(value)}%`;
  if (metric === 'visit_duration') {
    const s = Math.round(value);
    return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  }
  return number.format(value);
}

function formatChange(stat, change) {
  if (change === undefined || change === null) return null;
  const unit = stat.metric === 'bounce_rate' ? ' pt' : '%';
  const better = stat.lowerIsBetter ? change < 0 : change > 0;
  const arrow = change === 0 ? '→' : change > 0 ? '↑' : '↓';
  return { text: `${arrow} ${change > 0 ? '+' : ''}${number.format(change)}${unit}`, tone: change === 0 ? 'flat' : better ? 'good' : 'bad' };
}

/** "exact", or how far the provisional value may be from the true one. */
function labelOf(result) {
  if (result.exact !== false) return { text: 'exact', title: 'From the batch layer: exact' };
  if (typeof result.overcountBound === 'number') return { text: `provisional, at most ${number.format(result.overcountBound)} over`, title: 'Includes the speed layer: Count-Min may overcount by this much (99%)' };
  if (typeof result.relativeStandardError === 'number') return { text: `provisional, ±${(result.relativeStandardError * 100).toFixed(1)}%`, title: 'Includes the speed layer: HyperLogLog, one standard error' };
  return { text: 'provisional', title: 'Includes the speed layer: may still change' };
}

const dayOf = (iso) => (iso === null || iso === undefined ? '' : String(iso).slice(0, 10));
const timeOf = (iso) => new Date(iso).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

// ---- states --------------------------------------------------------------------------------

function showState(kind, title, ...body) {
  const box = $('state');
  box.hidden = kind === null;
  box.dataset.state = kind ?? '';
  box.replaceChildren();
  if (kind === null) return;
  box.append(el('h2', { text: title }), ...body);
}

async function explainFailure(err) {
  if (err instanceof ApiFailure && (err.status === 401 || err.status === 403)) {
    askForKey(err.status === 403 ? 'That key is not one of READ_API_KEYS. Paste a valid one.' : null);
    return;
  }
  if (err instanceof ApiFailure && err.status === 503) {
    const ready = await api('/api/v1/ready').catch((e) => e.body ?? null);
    if (ready?.store === 'down') {
      showState('error', 'The view store is unreachable', el('p', { text: 'The server runs, but it cannot read its view store (ClickHouse at CLICKHOUSE_URL, or DuckDB in DATA_DIR). Check that the store is up; this page retries on its own once the server answers.' }));
      return;
    }
    showState('error', 'The server is busy or catching up', el('p', { text: `${err.message}. It answers again in a few seconds; reload then.` }));
    return;
  }
  if (err instanceof ApiFailure) {
    showState('error', `The API refused a request (${err.status})`, el('p', { text: err.message }));
    return;
  }
  showState('error', 'The server is unreachable', el('p', { text: 'No answer from this page\'s server. Is `npm start` still running? This page reconnects when it answers.' }));
}

function askForKey(reason) {
  const form = $('key-form');
  form.hidden = false;
  if (reason !== null) $('key-reason').textContent = reason;
  $('stats').replaceChildren();
  $('key').focus();
}

// ---- the pickers ---------------------------------------------------------------------------

async function loadSites() {
  let sites = [];
  try {
    const body = await api('/api/v1/sites');
    sites = (body.sites ?? []).map((s) => (typeof s === 'string' ? s : s.site));
  } catch (err) {
    if (err instanceof ApiFailure && err.status === 404) sites = [];
    else throw err;
  }
  if (state.site === null) state.site = sites[0] ?? 'default';
  const choices = sites.includes(state.site) ? sites : [state.site, ...sites];
  $('site').replaceChildren(...choices.map((s) => el('option', { value: s, text: s, selected: s === state.site })));
  return sites;
}

function syncPickers() {
  $('period').value = state.period;
  $('custom').hidden = state.period !== 'custom';
  if (state.custom !== null) {
    $('from').value = state.custom[0];
    $('to').value = state.custom[1];
  }
}

// ---- the panels ----------------------------------------------------------------------------

function renderStats(aggregate) {
  const box = $('stats');
  box.replaceChildren();
  box.setAttribute('aria-busy', 'false');
  for (const stat of STATS) {
    const result = aggregate.results[stat.metric];
    if (result === undefined) continue;
    const change = formatChange(stat, result.change);
    const label = labelOf(result);
    const inner = [
      el('span', { class: 'stat-label', text: stat.label }),
      el('span', { class: 'stat-value', 'data-metric': stat.metric, 'data-value': result.value, text: formatMetric(stat.metric, result.value) }),
      change === null ? null : el('span', { class: `stat-change ${change.tone}`, title: 'against the previous period of the same length', text: change.text }),
      el('span', { class: `stat-exact ${result.exact === false ? 'provisional' : 'exact'}`, title: label.title, text: label.text }),
    ];
    const card = stat.charted
      ? el('button', { type: 'button', class: 'stat', 'aria-pressed': String(state.charted === stat.metric), onclick: () => chartMetric(stat.metric) }, ...inner)
      : el('div', { class: 'stat' }, ...inner);
    box.append(card);
  }
  if (state.filters.length > 0) box.append(el('p', { class: 'muted stat-note', text: 'Visits, bounce rate and duration are not broken down by filters yet.' }));
}

let lastSeries = null;
function chartMetric(metric) {
  state.charted = metric;
  for (const b of $('stats').querySelectorAll('button.stat')) b.setAttribute('aria-pressed', String(b.querySelector('.stat-value')?.dataset.metric === metric));
  if (lastSeries !== null) renderChart(lastSeries);
}

/** Seconds since the epoch of a Plausible `date` ('YYYY-MM-DD', 'YYYY-MM-DD HH:MM:SS'), UTC. */
const secondsOf = (date) => Date.parse(date.length === 10 ? `${date}T00:00:00Z` : `${date.replace(' ', 'T')}Z`) / 1000;

let plot = null;
function renderChart(series) {
  lastSeries = series;
  const metric = state.charted;
  $('chart-title').textContent = metric === 'pageviews' ? 'Page views' : 'Visitors';
  const rows = series.results;
  const xs = rows.map((r) => secondsOf(r.date));
  const values = rows.map((r) => r[metric] ?? null);
  const exact = rows.map((r, i) => (r.exact ? values[i] : null));
  const provisional = rows.map((r, i) => (!r.exact || (rows[i + 1] !== undefined && !rows[i + 1].exact) ? values[i] : null));
  const boundary = series.exactThrough === null ? null : Date.parse(series.exactThrough) / 1000;
  const box = $('chart');
  box.dataset.points = String(rows.length);
  box.dataset.exactPoints = String(rows.filter((r) => r.exact).length);
  box.dataset.total = String(values.reduce((sum, v) => sum + (v ?? 0), 0));
  $('chart-caption').textContent = (`${metric === 'pageviews' ? 'Page views' : 'Visitors'} per ${series.interval === 'hour' ? 'hour' : series.interval === 'month' ? 'month' : 'day'}: ${rows.filter((r) => r.exact).length} exact buckets, ${rows.filter((r) => !r.exact).length} provisional${boundary === null ? '' : `, exact through ${timeOf(series.exactThrough)}`}`);
  $('boundary-note').textContent = boundary === null ? 'no batch run yet: every number is provisional' : `exact through ${timeOf(series.exactThrough)}`;
  const width = Math.max(300, box.clientWidth);
  const opts = {
    width,
    height: 260,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
    legend: { show: true },
    cursor: { drag: { x: false, y: false } },
    series: [
      { label: 'UTC' },
      { label: 'exact', stroke: '#2f5bd3', width: 2, fill: 'rgba(47,91,211,0.10)', points: { show: rows.length < 60 } },
      { label: 'provisional', stroke: '#c2410c', width: 2, dash: [6, 4], fill: 'rgba(194,65,12,0.06)', points: { show: rows.length < 60 } },
    ],
    axes: [{}, { values: (_u, ticks) => ticks.map((t) => number.format(t)) }],
    plugins: [boundaryMarker(boundary)],
  };
  plot?.destroy();
  box.replaceChildren();
  plot = new uPlot(opts, [xs, exact, provisional], box);
}

/** A vertical line at the boundary and a label on each side, placed where the x scale puts exactThrough. */
function boundaryMarker(boundary) {
  return {
    hooks: {
      draw: [
        (u) => {
          let marker = u.over.querySelector('.boundary');
          if (boundary === null) {
            marker?.remove();
            return;
          }
          const [min, max] = [u.scales.x.min, u.scales.x.max];
          const inside = boundary >= min && boundary <= max;
          const left = u.valToPos(Math.min(Math.max(boundary, min), max), 'x');
          if (marker === null) {
            marker = el('div', { class: 'boundary', role: 'note' }, el('span', { class: 'side before', text: 'exact' }), el('span', { class: 'side after', text: 'provisional' }));
            u.over.append(marker);
          }
          marker.style.left = `${left}px`;
          // Near the right edge, the 'provisional' label goes under 'exact', on the left of the line.
          marker.classList.toggle('edge', left > u.over.clientWidth - 90);
          marker.dataset.at = new Date(boundary * 1000).toISOString();
          marker.dataset.inside = String(inside);
          marker.setAttribute('aria-label', `batch boundary: exact through ${timeOf(boundary * 1000)}`);
        },
      ],
    },
  };
}

/** A count of a breakdown row; an estimate (a filter across properties after the boundary) says so and gives its range. */
function countCell(value, bound) {
  if (value === null || value === undefined) return el('td', { class: 'num', text: '–' });
  const range = bound !== undefined && 'lower' in bound ? bound : null;
  return el(
    'td',
    { class: 'num', 'data-value': value, title: range === null ? null : `an estimate: between ${number.format(range.lower)} and ${number.format(range.upper)}` },
    range === null ? null : el('span', { class: 'approx', 'aria-hidden': 'true' }, '≈'),
    range === null ? null : el('span', { class: 'visually-hidden', text: `an estimate between ${range.lower} and ${range.upper}: ` }),
    number.format(value),
  );
}

function renderBreakdown(panel, body) {
  const id = `panel-${panel.key}`;
  const rows = body.results;
  const table = el(
    'table',
    { class: 'breakdown' },
    el('caption', { class: 'visually-hidden', text: `${panel.title}: visitors and page views` }),
    el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: panel.filterLabel }), el('th', { scope: 'col', class: 'num', text: 'Visitors' }), el('th', { scope: 'col', class: 'num', text: 'Page views' }))),
    el(
      'tbody',
      {},
      ...rows.map((r) => {
        const value = r[panel.key];
        const label = value === null || value === '' ? '(none)' : String(value);
        return el(
          'tr',
          { class: r.exact ? 'exact' : 'provisional' },
          el('th', { scope: 'row' }, el('button', { type: 'button', class: 'value', 'data-value': label, title: `Show only ${panel.filterLabel.toLowerCase()} ${label}`, onclick: () => addFilter(panel.property, label) }, label)),
          countCell(r.visitors, r.bounds?.visitors),
          countCell(r.pageviews ?? 0, r.bounds?.pageviews),
        );
      }),
    ),
  );
  const section = el(
    'section',
    { class: 'panel', id, 'aria-labelledby': `${id}-title`, 'data-property': panel.property },
    el('div', { class: 'panel-head' }, el('h2', { id: `${id}-title`, text: panel.title })),
    rows.length === 0 ? el('p', { class: 'muted', text: 'Nothing in this period.' }) : table,
  );
  return section;
}

function renderFilters() {
  const box = $('filters');
  box.hidden = state.filters.length === 0;
  box.replaceChildren(
    el('span', { class: 'muted', text: 'Filtered by' }),
    ...state.filters.map((f, i) => {
      const label = PANELS.find((p) => p.property === f.property)?.filterLabel ?? f.property;
      return el('button', { type: 'button', class: 'chip', 'aria-label': `Remove filter: ${label} is ${f.values.join(' or ')}`, onclick: () => removeFilter(i) }, `${label} is ${f.values.join(' or ')} ✕`);
    }),
  );
}

function renderRuns(body, site) {
  const box = $('runs');
  const runs = (body.runs ?? []).filter((r) => r.status === 'success');
  if (runs.length === 0) {
    box.replaceChildren(el('p', { class: 'muted', text: 'No batch run yet. The nightly run (BATCH_CRON), or `npm run batch -- --now`, publishes the first; then each run shows here.' }));
    return;
  }
  const unmeasured = runs.some((r) => !r.divergence);
  const pct = (x) => (x === null || x === undefined ? '–' : `${(x * 100).toFixed(2)}%`);
  const rows = runs.map((run) => {
    const d = run.divergence?.sites?.[site] ?? null;
    const covered = run.divergence ? `${dayOf(new Date(run.divergence.from).toISOString())} → ${timeOf(run.divergence.to)}` : '–';
    const within = d === null ? '–' : d.withinBound ? 'yes' : 'NO';
    return el(
      'tr',
      { class: d !== null && !d.withinBound ? 'outside' : '' },
      el('td', { text: run.finishedAt ? timeOf(run.finishedAt) : run.status }),
      el('td', { text: covered }),
      el('td', { class: 'num', text: d === null ? '–' : number.format(d.batch) }),
      el('td', { class: 'num', text: d === null ? '–' : number.format(d.speed) }),
      el('td', { class: 'num', text: d !== null ? pct(d.relativeDifference) : run.divergence ? 'no traffic' : 'not measured' }),
      el('td', { text: within }),
      el('td', { class: 'num', text: d?.visitors ? `${number.format(d.visitors.batch)} / ${number.format(d.visitors.speed)}` : '–' }),
      el('td', { class: 'num', text: d?.visitors ? pct(d.visitors.relativeDifference) : '–' }),
      el('td', { class: 'num', text: d?.sessions ? `${number.format(d.sessions.batch.visits)} / ${number.format(d.sessions.speed.visits)}` : '–' }),
    );
  });
  const table = el(
    'table',
    { class: 'runs' },
    el('caption', { class: 'visually-hidden', text: 'Batch runs: speed layer against the exact numbers' }),
    el(
      'thead',
      {},
      el('tr', {}, ...['Run finished', 'Period it checked', 'Page views, batch', 'Page views, speed', 'Divergence', 'Within bound', 'Visitors, batch / speed', 'Visitors divergence', 'Visits, batch / speed'].map((h) => el('th', { scope: 'col', text: h }))),
    ),
    el('tbody', {}, ...rows),
  );
  const note = el('p', { class: 'muted', text: 'Not measured: a run that found no speed views to compare with (the first run, over the generated history, which the speed layer never counted).' });
  box.replaceChildren(...(unmeasured ? [table, note] : [table]));
}

function renderCompare(body) {
  const box = $('compare');
  if (body.comparedFrom === body.comparedTo || body.rows.length === 0) {
    box.replaceChildren(el('p', { class: 'muted', text: 'No bucket of this period is held by both layers: the speed layer keeps its views for a few days after the boundary, the batch layer from its first run.' }));
    return;
  }
  const rows = body.rows.map((r) =>
    el(
      'tr',
      { class: r.withinBound ? '' : 'outside' },
      el('td', { text: body.interval === 'day' ? dayOf(r.bucket) : timeOf(r.bucket) }),
      el('td', { class: 'num', text: number.format(r.batch) }),
      el('td', { class: 'num', text: number.format(r.speed) }),
      el('td', { class: 'num', text: `${r.difference > 0 ? '+' : ''}${number.format(r.difference)}` }),
      el('td', { class: 'num', text: `≤ +${number.format(r.overcountBound)}` }),
      el('td', { text: r.withinBound ? 'yes' : 'NO' }),
    ),
  );
  const t = body.totals;
  box.replaceChildren(
    el(
      'table',
      { class: 'compare' },
      el('caption', { class: 'visually-hidden', text: 'Page views per bucket, batch against speed' }),
      el('thead', {}, el('tr', {}, ...['Bucket', 'Batch (exact)', 'Speed', 'Difference', 'Bound', 'Within'].map((h) => el('th', { scope: 'col', text: h })))),
      el('tbody', {}, ...rows),
      el('tfoot', {}, el('tr', {}, el('th', { scope: 'row', text: 'Total' }), el('td', { class: 'num', text: number.format(t.batch) }), el('td', { class: 'num', text: number.format(t.speed) }), el('td', { class: 'num', text: number.format(t.difference) }), el('td'), el('td', { text: t.withinBound ? 'yes' : 'NO' }))),
    ),
  );
}

function renderEmpty(sites) {
  const snippet = `<script defer data-domain="${state.site}" src="${location.origin}/js/script.js"></script>`;
  showState(
    'empty',
    sites.length === 0 ? 'No events yet: add this script tag' : `No page views for ${state.site} in this period`,
    el('p', { text: sites.length === 0 ? 'Put this in the <head> of your site\'s pages; page views show here within seconds:' : 'Pick another period or site, or add the script to this site\'s pages:' }),
    el('pre', {}, el('code', { text: snippet })),
    el('p', { text: 'Servers can post events to POST /api/v1/events (see README.md). With GENERATOR=on, the built-in generator fills the site "default".' }),
  );
}

// ---- loading -------------------------------------------------------------------------------

let loading = null;
let sitesSeen = [];

async function loadAll({ quiet = false } = {}) {
  const token = Symbol('load');
  loading = token;
  if (!quiet) {
    $('stats').setAttribute('aria-busy', 'true');
    document.body.dataset.loading = 'true';
  }
  const site = state.site;
  const range = rangeQuery();
  const filters = state.filters.length === 0 ? undefined : filtersText(state.filters);
  const interval = PERIOD_INTERVAL[state.period];
  const metrics = ['visitors', 'pageviews', ...(state.sessions && filters === undefined ? ['visits', 'bounce_rate', 'visit_duration'] : [])];
  const compareRange = ['6mo', '12mo'].includes(state.period) ? { period: '30d' } : range;
  try {
    const aggregate = api('/api/v1/stats/aggregate', { site_id: site, ...range, metrics: metrics.join(','), compare: 'previous_period', filters }).catch(async (err) => {
      // A server without sessions refuses their metrics: show the others, hide those.
      if (!(err instanceof ApiFailure) || err.status !== 400 || metrics.length === 2) throw err;
      state.sessions = false;
      return api('/api/v1/stats/aggregate', { site_id: site, ...range, metrics: 'visitors,pageviews', compare: 'previous_period', filters });
    });
    const series = api('/api/v1/stats/timeseries', { site_id: site, ...range, interval, metrics: 'visitors,pageviews', filters });
    const panels = PANELS.map((panel) =>
      api('/api/v1/stats/breakdown', { site_id: site, ...range, property: panel.property, metrics: 'visitors,pageviews', limit: 10, filters }).then(
        (body) => ({ panel, body }),
        // A property the server does not have yet: its panel is hidden, not broken.
        (err) => {
          if (err instanceof ApiFailure && err.status === 400) return { panel, body: null };
          throw err;
        },
      ),
    );
    const runs = api('/api/v1/batch/runs', { limit: 14 });
    const compare = api('/api/v1/compare', { site, ...compareRange, interval: 'day' });
    const [a, s, p, r, c] = await Promise.all([aggregate, series, Promise.all(panels), runs, compare]);
    if (loading !== token) return;
    $('key-form').hidden = true;
    renderFilters();
    renderStats(a);
    renderChart(s);
    $('breakdowns').replaceChildren(...p.filter((x) => x.body !== null).map((x) => renderBreakdown(x.panel, x.body)));
    renderRuns(r, site);
    renderCompare(c);
    $('exact-through').textContent = a.exactThrough === null ? 'No batch run yet: every number is provisional' : `Exact (batch) through ${timeOf(a.exactThrough)}; later numbers are provisional (speed)`;
    if ((a.results.pageviews?.value ?? 0) === 0 && (a.results.pageviews?.previous?.value ?? 0) === 0 && state.filters.length === 0) renderEmpty(sitesSeen);
    else showState(null);
    state.loadedAt = Date.now();
    document.body.dataset.loaded = String(state.loadedAt);
    // When the first numbers are on screen (what `npm run bench` measures as the first meaningful paint).
    if (performance.getEntriesByName('pv-numbers').length === 0) performance.mark('pv-numbers');
  } catch (err) {
    if (loading !== token) return;
    await explainFailure(err);
  } finally {
    if (loading === token) {
      document.body.dataset.loading = 'false';
      $('stats').setAttribute('aria-busy', 'false');
    }
  }
}

function addFilter(property, value) {
  const existing = state.filters.find((f) => f.property === property);
  if (existing !== undefined) existing.values = [value];
  else state.filters.push({ property, values: [value] });
  writeLocation();
  void loadAll();
}

function removeFilter(i) {
  state.filters.splice(i, 1);
  writeLocation();
  void loadAll();
}

// ---- realtime, pushed ----------------------------------------------------------------------

let stream = null;
async function followRealtime() {
  stream?.abort();
  const controller = new AbortController();
  stream = controller;
  const site = state.site;
  let attempt = 0;
  while (!controller.signal.aborted) {
    try {
      const url = new URL('/api/v1/realtime/stream', location.origin);
      url.searchParams.set('site', site);
      const res = await fetch(url, { signal: controller.signal, headers: { Accept: 'text/event-stream', ...(state.key === null ? {} : { Authorization: `Bearer ${state.key}` }) } });
      if (res.status === 404) {
        $('rt-status').textContent = 'live updates unavailable on this server';
        return;
      }
      if (!res.ok || res.body === null) throw new Error(`HTTP ${res.status}`);
      attempt = 0;
      $('rt-status').textContent = 'live';
      $('live-dot').classList.add('on');
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          onFrame(frame);
        }
      }
      throw new Error('stream ended');
    } catch (err) {
      if (controller.signal.aborted) return;
      $('live-dot').classList.remove('on');
      const wait = RECONNECT_MS[Math.min(attempt++, RECONNECT_MS.length - 1)];
      $('rt-status').textContent = `live updates paused (${err instanceof Error ? err.message : 'error'}); retrying in ${wait / 1000} s`;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

function onFrame(frame) {
  let event = 'message';
  const data = [];
  for (const line of frame.split('\n')) {
    if (line.startsWith(':')) continue;
    if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
  }
  if (event !== 'realtime' || data.length === 0) return;
  const message = JSON.parse(data.join('\n'));
  if (message.site !== state.site) return;
  const set = (id, v) => {
    const node = $(id);
    node.textContent = number.format(v.value);
    node.dataset.value = String(v.value);
    node.title = labelOf(v).text;
  };
  set('rt-visitors', message.visitors);
  set('rt-pageviews', message.pageviews);
  $('rt-status').textContent = `live · ${new Date(message.at).toISOString().slice(11, 19)} UTC`;
  // The views changed: reload the panels too, at most once per RELOAD_ON_PUSH_MS.
  if (message.version !== state.lastVersion) {
    state.lastVersion = message.version;
    if (state.loadedAt > 0 && Date.now() - state.loadedAt > RELOAD_ON_PUSH_MS && document.visibilityState === 'visible') void loadAll({ quiet: true });
  }
}

// ---- start ---------------------------------------------------------------------------------

async function start() {
  readLocation();
  syncPickers();
  try {
    sitesSeen = await loadSites();
  } catch (err) {
    await explainFailure(err);
    return;
  }
  writeLocation();
  await loadAll();
  void followRealtime();
}

$('site').addEventListener('change', (e) => {
  state.site = e.target.value;
  state.filters = [];
  writeLocation();
  void loadAll();
  void followRealtime();
});
$('period').addEventListener('change', (e) => {
  state.period = e.target.value;
  if (state.period === 'custom') {
    $('custom').hidden = false;
    const today = new Date().toISOString().slice(0, 10);
    $('from').value ||= new Date(Date.now() - 6 * 86_400_000).toISOString().slice(0, 10);
    $('to').value ||= today;
    $('from').focus();
    return;
  }
  state.custom = null;
  $('custom').hidden = true;
  writeLocation();
  void loadAll();
});
$('pickers').addEventListener('submit', (e) => {
  e.preventDefault();
  const [from, to] = [$('from').value, $('to').value];
  if (state.period !== 'custom' || from === '' || to === '') return;
  state.custom = from <= to ? [from, to] : [to, from];
  writeLocation();
  void loadAll();
});
$('key-form').addEventListener('submit', (e) => {
  e.preventDefault();
  state.key = $('key').value.trim();
  sessionStorage.setItem(KEY_STORAGE, state.key);
  $('key-form').hidden = true;
  void start();
});

void start();
