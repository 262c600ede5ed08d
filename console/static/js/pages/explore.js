// The PromQL explorer: one expression, drawn over a time range and listed
// at its end.

import { get, listOf } from '../api.js';
import { h, message, select, table } from '../dom.js';
import { num, seriesName, timestamp, value as fmtValue } from '../format.js';
import { MAX_SERIES, align, timeseries } from '../chart.js';
import { builtins, substitute, timeWindow } from '../time.js';
import { link, replace } from '../router.js';
import { isAbort, pageHeader, rangePicker } from './common.js';

export function mount(root, r) {
  let range = r.params.get('range') || '1h';
  let ctrl = null;
  let chart = null;
  const input = h('textarea', {
    id: 'expr', class: 'expr mono', rows: 3, spellcheck: 'false', autocapitalize: 'off',
    placeholder: 'PromQL, e.g. rate(host_cpu_idle_seconds_total[5m])', 'aria-label': 'PromQL expression',
  });
  input.value = r.params.get('expr') || '';
  const metrics = select({ class: 'metric-picker', 'aria-label': 'Insert a metric name' }, [['Insert metric…', '']], '');
  const status = h('p', { class: 'msg', role: 'status' });
  const chartBox = h('div', { class: 'panel explore-chart', dataset: { state: 'idle' } });
  const tableBox = h('div', { class: 'explore-table' });
  const run = h('button', { type: 'submit', class: 'primary', text: 'Run' });
  const form = h('form', { class: 'explore-form', onsubmit: (e) => { e.preventDefault(); execute(); } },
    input, h('div', { class: 'toolbar' }, run, rangePicker(range, (x) => { range = x; execute(); }), metrics,
      h('span', { class: 'muted hint', text: 'Ctrl+Enter runs. $__interval, $__rate_interval and $__range work here too.' })));
  root.append(h('section', { class: 'page explore' }, pageHeader('Explore'), form, status, chartBox, tableBox));

  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); execute(); }
  });
  metrics.addEventListener('change', () => {
    const name = metrics.value;
    if (!name) return;
    const at = input.selectionStart ?? input.value.length;
    input.value = input.value.slice(0, at) + name + input.value.slice(input.selectionEnd ?? at);
    metrics.value = '';
    input.focus();
  });
  const names = new AbortController();
  get('/api/v1/label/__name__/values', null, { signal: names.signal })
    .then((d) => { for (const n of listOf(d)) metrics.append(new Option(String(n), String(n))); })
    .catch(() => {});

  async function execute() {
    const expr = input.value.trim();
    if (!expr) return;
    replace(link('explore', '', { expr, range }));
    ctrl?.abort();
    ctrl = new AbortController();
    const { signal } = ctrl;
    const w = timeWindow(range);
    const q = substitute(expr, builtins(w));
    status.className = 'msg';
    status.textContent = 'Running…';
    run.disabled = true;
    const t0 = performance.now();
    try {
      const [rangeData, instant] = await Promise.all([
        get('/api/v1/query_range', { query: q, start: w.start, end: w.end, step: w.step }, { signal })
          .catch((e) => { if (isAbort(e)) throw e; return { error: e }; }),
        get('/api/v1/query', { query: q, time: w.end }, { signal }),
      ]);
      drawChart(rangeData, w);
      drawTable(instant);
      const n = instant.resultType === 'vector' || instant.resultType === 'matrix' ? (instant.result || []).length : 1;
      status.textContent = `${n} result${n === 1 ? '' : 's'} at ${timestamp(w.end * 1000)} · ${Math.round(performance.now() - t0)} ms`;
    } catch (e) {
      if (isAbort(e)) return;
      status.className = 'msg msg-error';
      status.textContent = e.message;
      chart?.destroy();
      chart = null;
      chartBox.replaceChildren();
      chartBox.dataset.state = 'error';
      tableBox.replaceChildren();
    } finally {
      if (!signal.aborted) run.disabled = false;
    }
  }

  function drawChart(d, w) {
    chart?.destroy();
    chart = null;
    if (d.error) {
      // Instant-only expressions (a range vector, say) cannot be drawn.
      chartBox.dataset.state = 'empty';
      chartBox.replaceChildren(h('p', { class: 'muted no-data', text: `Not drawn: ${d.error.message}` }));
      return;
    }
    const results = (d.result || []).slice(0, MAX_SERIES);
    if (d.resultType !== 'matrix' || !results.length) {
      chartBox.dataset.state = 'empty';
      chartBox.replaceChildren(h('p', { class: 'muted no-data', text: 'No data in this range.' }));
      return;
    }
    const { xs, ys, points } = align(w, results);
    const el = h('div', { class: 'chart' });
    chartBox.replaceChildren(el);
    chartBox.dataset.state = 'ok';
    chartBox.dataset.points = String(points);
    chart = timeseries(el, { xs, series: results.map((res, i) => ({ label: seriesName(res.metric), ys: ys[i] })) });
  }

  function drawTable(d) {
    let rows = [];
    switch (d.resultType) {
      case 'vector':
        rows = (d.result || []).map((res) => ({ cells: [{ props: { class: 'mono' }, node: seriesName(res.metric) }, { props: { class: 'num' }, node: fmtValue(num(res.value?.[1])) }] }));
        break;
      case 'matrix':
        rows = (d.result || []).map((res) => {
          const last = (res.values || [])[res.values.length - 1];
          return { cells: [{ props: { class: 'mono' }, node: seriesName(res.metric) }, { props: { class: 'num' }, node: `${(res.values || []).length} samples, last ${last ? fmtValue(num(last[1])) : '–'}` }] };
        });
        break;
      case 'scalar':
      case 'string':
        rows = [{ cells: [d.resultType, { props: { class: 'num' }, node: d.resultType === 'scalar' ? fmtValue(num(d.result?.[1])) : String(d.result?.[1] ?? '') }] }];
        break;
      default:
        rows = [];
    }
    tableBox.replaceChildren(rows.length ? table(['Series', { text: 'Value', class: 'num' }], rows, { class: 'result-table' })
      : message('empty', 'The query returned no series.'));
  }

  if (input.value) execute();
  else input.focus();
  return () => { ctrl?.abort(); names.abort(); chart?.destroy(); };
}
