// The dashboard page: renders any definition from /api/v1/dashboards/<id>
// (pkg/dashboards) on its 24-column grid, with its variables, a time range
// and auto-refresh. Its state (range, refresh, var-<name>) is kept in the
// fragment, so a view can be bookmarked and shared.

import { get, listOf } from '../api.js';
import { h, message, select, table } from '../dom.js';
import { legend, num, parseDuration, value as fmtValue } from '../format.js';
import { MAX_SERIES, align, timeseries } from '../chart.js';
import { builtins, parseLabelValues, substitute, timeWindow } from '../time.js';
import { go, link } from '../router.js';
import { logList } from '../logview.js';
import { every, fetchAgents, isAbort, rangePicker } from './common.js';

const REFRESH_CHOICES = ['off', '10s', '30s', '1m', '5m'];
const NAMED_COLOURS = new Set(['green', 'blue', 'yellow', 'orange', 'red']);

export function mount(root, r) {
  const id = r.arg || 'fleet-overview';
  const params = r.params;
  const ctrl = new AbortController();
  const title = h('h1', { text: 'Dashboard' });
  const description = h('p', { class: 'muted description' });
  const toolbar = h('div', { class: 'toolbar' });
  const grid = h('div', { class: 'grid', dataset: { dashboard: id } });
  root.append(h('section', { class: 'page dashboard' },
    h('div', { class: 'page-head' }, title), description, toolbar, grid));
  let panels = [];
  let refresher = null;

  (async () => {
    const [def, list] = await Promise.all([
      get(`/api/v1/dashboards/${encodeURIComponent(id)}`, null, { signal: ctrl.signal }),
      get('/api/v1/dashboards', null, { signal: ctrl.signal }).catch(() => []),
    ]);
    title.textContent = String(def.title || def.id);
    description.textContent = String(def.description || '');
    const range = params.get('range') || def.time_range || '1h';
    const refresh = params.get('refresh') || def.refresh || '30s';
    const state = { range, refresh };
    for (const [k, v] of params) if (k.startsWith('var-')) state[k] = v;
    const navigate = (changes) => go(link('d', id, { ...state, ...changes }));

    // Dashboard picker, variables (in order: later ones may use earlier
    // ones), range, refresh.
    const dashboards = listOf(list, 'dashboards').map((d) => [String(d.title || d.id), String(d.id)]);
    if (dashboards.length) {
      toolbar.append(field('Dashboard', select({ class: 'dash-picker', onchange: (e) => go(link('d', e.target.value, { 'var-agent': state['var-agent'] })) }, dashboards, id)));
    }
    const values = {};
    let agents = null;
    for (const v of def.variables || []) {
      const w = timeWindow(range);
      let options = null;
      if (v.kind === 'agent') {
        agents ??= await fetchAgents(ctrl.signal);
        options = agents.map((a) => [a.hostname && a.hostname !== a.id ? `${a.id} (${a.hostname})` : a.id, a.id]);
      } else if (v.kind === 'label_values') {
        options = await labelValues(v.query, values, w, ctrl.signal);
      } else if (v.kind === 'custom') {
        options = (v.options || []).map((o) => [String(o), String(o)]);
      }
      const asked = params.get(`var-${v.name}`);
      let val;
      if (options) {
        const has = (x) => options.some((o) => o[1] === x);
        if (asked !== null && asked !== '' && !has(asked)) options.unshift([`${asked} (not reporting)`, asked]);
        val = asked || (v.default && has(v.default) ? v.default : (options[0] ? options[0][1] : ''));
        toolbar.append(field(v.label || v.name, select({ dataset: { var: v.name }, onchange: (e) => navigate({ [`var-${v.name}`]: e.target.value }) }, options, val)));
      } else {
        val = asked ?? v.default ?? '';
        const input = h('input', { type: 'text', value: val, dataset: { var: v.name }, placeholder: 'any', onchange: (e) => navigate({ [`var-${v.name}`]: e.target.value }) });
        toolbar.append(field(v.label || v.name, input));
      }
      values[v.name] = val;
      state[`var-${v.name}`] = val;
    }
    toolbar.append(rangePicker(range, (x) => navigate({ range: x })));
    const refreshChoices = [...REFRESH_CHOICES];
    if (!refreshChoices.includes(refresh) && parseDuration(refresh) > 0) refreshChoices.push(refresh);
    toolbar.append(field('Refresh', select({ class: 'refresh', onchange: (e) => navigate({ refresh: e.target.value }) },
      refreshChoices.map((c) => [c === 'off' ? 'Off' : `Every ${c}`, c]), refresh)));
    const reload = h('button', { type: 'button', class: 'icon-button', title: 'Refresh now', 'aria-label': 'Refresh now', text: '\u21bb' });
    toolbar.append(reload);

    // Panels in reading order, so the phone layout (one column) stacks them
    // as the grid shows them.
    const defs = [...(def.panels || [])].sort((a, b) => (a.layout?.y ?? 0) - (b.layout?.y ?? 0) || (a.layout?.x ?? 0) - (b.layout?.x ?? 0));
    panels = defs.map((p) => panelShell(p));
    grid.replaceChildren(...panels.map((p) => p.el));

    const ms = refresh === 'off' ? 0 : parseDuration(refresh) * 1000;
    refresher = every(ms, async (signal) => {
      const w = timeWindow(range);
      const all = { ...values, ...builtins(w) };
      await Promise.all(panels.map((ps) => loadPanel(ps, w, all, signal)));
    });
    reload.addEventListener('click', () => refresher.now());
  })().catch((e) => {
    if (isAbort(e)) return;
    grid.replaceChildren(message('error', e.status === 404 ? `There is no dashboard "${id}".` : `Could not load the dashboard: ${e.message}`));
  });

  return () => {
    ctrl.abort();
    refresher?.stop();
    for (const p of panels) p.chart?.destroy();
  };
}

function field(label, control) {
  return h('label', { class: 'field' }, h('span', { text: label }), control);
}

async function labelValues(query, values, w, signal) {
  const lv = parseLabelValues(query);
  if (!lv) return [];
  const data = await get(`/api/v1/label/${encodeURIComponent(lv.label)}/values`, {
    'match[]': lv.selector ? substitute(lv.selector, values) : undefined, start: w.start, end: w.end,
  }, { signal }).catch((e) => { if (isAbort(e)) throw e; return []; });
  return listOf(data).map((x) => [String(x), String(x)]);
}

// panelShell builds a panel's frame, placed on the grid through CSS custom
// properties (set via the CSSOM, which the CSP allows).
function panelShell(p) {
  const l = p.layout || {};
  const el = h('section', { class: `panel panel-${p.type}${(l.w ?? 24) <= 8 ? ' narrow' : ''}`, dataset: { panel: p.id, type: p.type, state: 'loading' } });
  el.style.setProperty('--x', String((l.x ?? 0) + 1));
  el.style.setProperty('--y', String((l.y ?? 0) + 1));
  el.style.setProperty('--w', String(l.w ?? 24));
  el.style.setProperty('--h', String(l.h ?? 8));
  const titleEl = h('h2', { class: 'panel-title', text: p.title || p.id, title: p.description || null });
  const body = h('div', { class: 'panel-body' }, h('p', { class: 'muted', text: 'Loading…' }));
  el.append(titleEl, body);
  return { p, el, titleEl, body, chart: null };
}

function setBody(ps, state, ...nodes) {
  ps.chart?.destroy();
  ps.chart = null;
  ps.el.dataset.state = state;
  ps.body.replaceChildren(...nodes.filter((n) => n !== null && n !== undefined));
}

async function loadPanel(ps, w, vars, signal) {
  const p = ps.p;
  ps.titleEl.textContent = substitute(p.title || p.id, vars);
  try {
    switch (p.type) {
      case 'timeseries': return await loadTimeseries(ps, w, vars, signal);
      case 'stat': return await loadInstant(ps, w, vars, signal, renderStat);
      case 'table': return await loadInstant(ps, w, vars, signal, renderTable);
      case 'logs': return await loadLogs(ps, w, vars, signal);
      default: return setBody(ps, 'error', message('error', `Unknown panel type "${p.type}".`));
    }
  } catch (e) {
    if (isAbort(e)) return undefined;
    return setBody(ps, 'error', message('error', e.message));
  }
}

async function loadTimeseries(ps, w, vars, signal) {
  const p = ps.p;
  const answers = await Promise.all((p.queries || []).map((q) => get('/api/v1/query_range', {
    query: substitute(q.expr, vars), start: w.start, end: w.end, step: w.step,
  }, { signal }).then((d) => ({ q, d }))));
  const series = [];
  for (const { q, d } of answers) {
    for (const r of (d && d.result) || []) series.push({ label: legend(q.legend, r.metric), values: r.values });
  }
  ps.el.dataset.series = String(series.length);
  if (!series.length) return setBody(ps, 'empty', h('p', { class: 'muted no-data', text: 'No data' }));
  const shown = series.slice(0, MAX_SERIES);
  const { xs, ys, points } = align(w, shown);
  ps.el.dataset.points = String(points);
  const chartEl = h('div', { class: 'chart' });
  const note = series.length > shown.length ? h('p', { class: 'muted note', text: `Showing ${shown.length} of ${series.length} series.` }) : null;
  setBody(ps, 'ok', chartEl, note);
  ps.chart = timeseries(chartEl, { xs, series: shown.map((s, i) => ({ label: s.label, ys: ys[i] })), unit: p.unit, decimals: p.decimals });
  return undefined;
}

// instantRows runs a panel's queries at the end of the window and returns
// [{ label, value, metric }].
async function loadInstant(ps, w, vars, signal, render) {
  const p = ps.p;
  const answers = await Promise.all((p.queries || []).map((q) => get('/api/v1/query', {
    query: substitute(q.expr, vars), time: w.end,
  }, { signal }).then((d) => ({ q, d }))));
  const rows = [];
  for (const { q, d } of answers) {
    if (!d) continue;
    if (d.resultType === 'scalar' && Array.isArray(d.result)) {
      rows.push({ label: q.legend || 'value', value: num(d.result[1]), metric: {} });
      continue;
    }
    for (const r of d.result || []) {
      if (Array.isArray(r.value)) rows.push({ label: legend(q.legend, r.metric), value: num(r.value[1]), metric: r.metric });
    }
  }
  ps.el.dataset.series = String(rows.length);
  if (!rows.length) return setBody(ps, 'empty', h('p', { class: 'muted no-data', text: 'No data' }));
  return render(ps, rows);
}

function applyThreshold(el, thresholds, v) {
  let colour = null;
  for (const t of thresholds || []) if (v >= t.value) colour = t.color;
  if (!colour) return;
  if (NAMED_COLOURS.has(colour)) el.classList.add(`th-${colour}`);
  else if (/^#[0-9a-fA-F]{6}$/.test(colour)) el.style.color = colour;
}

function renderStat(ps, rows) {
  const p = ps.p;
  const items = rows.slice(0, 12).map((r) => {
    const v = h('span', { class: 'stat-value', text: fmtValue(r.value, p.unit, p.decimals) });
    applyThreshold(v, p.thresholds, r.value);
    return h('div', { class: 'stat' }, v, rows.length > 1 || (r.label && p.queries.some((q) => q.legend)) ? h('span', { class: 'stat-label', text: r.label }) : null);
  });
  setBody(ps, 'ok', h('div', { class: `stats${items.length > 1 ? ' many' : ''}` }, items));
}

function renderTable(ps, rows) {
  const p = ps.p;
  rows.sort((a, b) => (Number.isNaN(b.value) ? -Infinity : b.value) - (Number.isNaN(a.value) ? -Infinity : a.value));
  setBody(ps, 'ok', table(['Series', { text: 'Value', class: 'num' }], rows.map((r) => {
    const v = h('span', { text: fmtValue(r.value, p.unit, p.decimals) });
    applyThreshold(v, p.thresholds, r.value);
    return { cells: [r.label, { props: { class: 'num' }, node: v }] };
  }), { class: 'compact' }));
}

async function loadLogs(ps, w, vars, signal) {
  const lq = ps.p.logs || {};
  const agent = substitute(lq.agent, vars);
  const data = await get('/api/v1/logs', {
    start: w.start, end: w.end, agent, source: substitute(lq.source, vars), q: substitute(lq.q, vars),
    re: substitute(lq.re, vars, true), limit: lq.limit || 200, direction: 'backward',
  }, { signal });
  const records = listOf(data, 'records');
  ps.el.dataset.series = String(records.length);
  if (!records.length) return setBody(ps, 'empty', h('p', { class: 'muted no-data', text: 'No log records in this range.' }));
  return setBody(ps, 'ok', logList(records, { showAgent: !agent }));
}
