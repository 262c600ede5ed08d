// The alerts page: alert records agents sent (queue drops, say), newest
// first, with new ones arriving live.

import { get, listOf, stream } from '../api.js';
import { h, message, table } from '../dom.js';
import { ago, timestamp } from '../format.js';
import { timeWindow } from '../time.js';
import { go, link } from '../router.js';
import { isAbort, pageHeader, rangePicker } from './common.js';

const SEVERITIES = new Set(['info', 'warning', 'critical']);

function alertRow(a, fresh = false) {
  const o = a && typeof a === 'object' ? a : {};
  const sev = String(o.severity ?? '').toLowerCase();
  const labels = o.labels && typeof o.labels === 'object' ? o.labels : {};
  return {
    props: { class: fresh ? 'fresh' : null },
    cells: [
      { props: { title: timestamp(o.time), class: 'nowrap' }, node: ago(o.time) },
      h('span', { class: `badge sev-${SEVERITIES.has(sev) ? sev : 'other'}`, text: sev || '–' }),
      String(o.agent ?? ''),
      { props: { class: 'mono' }, node: String(o.name ?? '') },
      String(o.message ?? ''),
      { props: { class: 'wide-only' }, node: h('span', { class: 'log-attrs' }, Object.entries(labels).map(([k, v]) => h('span', { class: 'attr', text: `${k}=${v}` }))) },
    ],
  };
}

const HEADERS = ['When', 'Severity', 'Agent', 'Alert', 'Message', { text: 'Labels', class: 'wide-only' }];

export function mount(root, r) {
  const range = r.params.get('range') || '24h';
  const ctrl = new AbortController();
  const body = h('div', null, message('info', 'Loading…'));
  root.append(h('section', { class: 'page alerts' },
    pageHeader('Alerts', rangePicker(range, (x) => go(link('alerts', '', { range: x })))), body));
  let tbody = null;
  let stop = null;
  const w = timeWindow(range);
  get('/api/v1/alerts', { start: w.start, limit: 1000 }, { signal: ctrl.signal }).then((data) => {
    const alerts = listOf(data, 'alerts');
    alerts.sort((a, b) => (Date.parse(b?.time) || 0) - (Date.parse(a?.time) || 0));
    const t = table(HEADERS, alerts.map((a) => alertRow(a)), { class: 'alerts-table' });
    tbody = t.querySelector('tbody');
    body.replaceChildren(alerts.length ? '' : message('empty', 'No alerts in this range.'), t);
    stop = stream('/api/v1/live', { kind: 'alert' }, {
      onEvent: (ev) => {
        if (ev.type !== 'alert') return;
        let a;
        try { a = JSON.parse(ev.data); } catch { return; }
        const row = table(HEADERS, [alertRow(a, true)]).querySelector('tbody tr');
        tbody.prepend(row);
        body.querySelector('.msg-empty')?.remove();
      },
    });
  }).catch((e) => {
    if (!isAbort(e)) body.replaceChildren(message('error', `Could not load alerts: ${e.message}`));
  });
  return () => { ctrl.abort(); stop?.(); };
}
