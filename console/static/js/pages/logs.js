// The logs page: search stored records (agent, source, substring, RE2
// regex, time range), page back with the cursor, and follow new lines live
// over /api/v1/live.

import { get, listOf, stream } from '../api.js';
import { h, message, select } from '../dom.js';
import { logRow } from '../logview.js';
import { timeWindow } from '../time.js';
import { go, link, replace } from '../router.js';
import { fetchAgents, isAbort, pageHeader, rangePicker } from './common.js';

const PAGE = 200;
const MAX_ROWS = 2000;

export function mount(root, r) {
  const p = r.params;
  const f = {
    agent: p.get('agent') || '', source: p.get('source') || '', q: p.get('q') || '', re: p.get('re') || '',
    range: p.get('range') || '1h', live: p.get('live') === '1',
  };
  const ctrl = new AbortController();
  let stopLive = null;

  const agentSel = select({ name: 'agent', 'aria-label': 'Agent' }, [['All agents', '']], '');
  const input = (name, label, placeholder) => h('label', { class: 'field' }, h('span', { text: label }),
    h('input', { type: 'text', name, value: f[name], placeholder, spellcheck: 'false', autocapitalize: 'off' }));
  const liveBox = h('input', { type: 'checkbox', id: 'live-tail', checked: f.live });
  const liveState = h('span', { class: 'live-state muted', role: 'status' });
  const form = h('form', { class: 'toolbar filters', onsubmit: (e) => {
    e.preventDefault();
    const d = new FormData(form);
    go(link('logs', '', { agent: d.get('agent'), source: d.get('source'), q: d.get('q'), re: d.get('re'), range: f.range, live: f.live ? '1' : '' }));
  } },
  h('label', { class: 'field' }, h('span', { text: 'Agent' }), agentSel),
  input('source', 'Source', 'any'),
  input('q', 'Contains', 'text'),
  input('re', 'Regex', 'RE2'),
  rangePicker(f.range, (x) => go(link('logs', '', { ...f, range: x, live: f.live ? '1' : '' }))),
  h('button', { type: 'submit', class: 'primary', text: 'Search' }),
  h('label', { class: 'field toggle' }, liveBox, h('span', { text: 'Live tail' })),
  liveState);

  const list = h('ol', { class: 'log-list', id: 'log-list' });
  const status = h('p', { class: 'msg', role: 'status' });
  const more = h('button', { type: 'button', class: 'secondary', text: 'Load older', hidden: true });
  root.append(h('section', { class: 'page logs' }, pageHeader('Logs'), form, status, list, more));

  fetchAgents(ctrl.signal).then((agents) => {
    for (const a of agents) agentSel.append(new Option(a.hostname && a.hostname !== a.id ? `${a.id} (${a.hostname})` : a.id, a.id));
    if (f.agent && !agents.some((a) => a.id === f.agent)) agentSel.append(new Option(f.agent, f.agent));
    agentSel.value = f.agent;
  }).catch(() => {
    agentSel.append(new Option(f.agent, f.agent));
    agentSel.value = f.agent;
  });

  let cursor = '';
  const w = timeWindow(f.range);
  async function page() {
    more.disabled = true;
    try {
      const data = await get('/api/v1/logs', {
        start: w.start, end: Math.ceil(Date.now() / 1000), agent: f.agent, source: f.source, q: f.q, re: f.re,
        limit: PAGE, direction: 'backward', cursor,
      }, { signal: ctrl.signal });
      const records = listOf(data, 'records');
      for (const rec of records) list.append(logRow(rec, { showAgent: !f.agent }));
      cursor = (data && (data.next_cursor || data.cursor)) || '';
      more.hidden = !cursor;
      status.className = 'msg';
      status.textContent = list.children.length ? `${list.children.length} records, newest first.` : '';
      if (!list.children.length) status.textContent = 'No log records match.';
    } catch (e) {
      if (isAbort(e)) return;
      status.className = 'msg msg-error';
      status.textContent = e.message;
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener('click', page);
  page();

  // The live stream filters by agent and source on the server; the text
  // filters are applied here (JavaScript's regex dialect is close to RE2
  // for the patterns people type; one it cannot compile filters nothing).
  let re = null;
  try { re = f.re ? new RegExp(f.re) : null; } catch { re = null; }
  const wanted = (rec) => (!f.q || String(rec.message ?? '').includes(f.q)) && (!re || re.test(String(rec.message ?? '')));
  const seen = new Set();
  function startLive() {
    stopLive?.();
    stopLive = stream('/api/v1/live', { kind: 'log', agent: f.agent, source: f.source }, {
      onState: (s, detail) => {
        liveState.dataset.state = s;
        liveState.textContent = { connecting: 'connecting…', open: 'following', reconnecting: `reconnecting…${detail ? ` (${detail})` : ''}`, closed: '' }[s] ?? s;
      },
      onEvent: (ev) => {
        if (ev.type === 'gap' || ev.type === 'dropped') {
          status.className = 'msg msg-warn';
          status.textContent = ev.type === 'gap' ? 'The live tail skipped some lines (the collector could not replay them).' : 'The live tail fell behind and reconnected.';
          return;
        }
        if (ev.type !== 'log') return;
        let rec;
        try { rec = JSON.parse(ev.data); } catch { return; }
        if (!rec || typeof rec !== 'object' || !wanted(rec)) return;
        const key = String(rec.id ?? ev.id);
        if (key && seen.has(key)) return;
        if (key) seen.add(key);
        list.prepend(logRow(rec, { showAgent: !f.agent, fresh: true }));
        while (list.children.length > MAX_ROWS) list.lastElementChild.remove();
      },
    });
  }
  function setLive(on) {
    f.live = on;
    replace(link('logs', '', { agent: f.agent, source: f.source, q: f.q, re: f.re, range: f.range, live: on ? '1' : '' }));
    if (on) startLive();
    else { stopLive?.(); stopLive = null; liveState.textContent = ''; }
  }
  liveBox.addEventListener('change', () => setLive(liveBox.checked));
  if (f.live) startLive();

  return () => { ctrl.abort(); stopLive?.(); };
}
