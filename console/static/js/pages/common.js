// Pieces several pages share: agent records, page headers, range pickers,
// periodic refresh.

import { get, listOf } from '../api.js';
import { h, select } from '../dom.js';
import { rangeChoices } from '../time.js';

// agentInfo reads one /api/v1/agents entry, tolerating older or newer field
// names.
export function agentInfo(a) {
  const o = a && typeof a === 'object' ? a : {};
  const str = (...vals) => { for (const v of vals) if (typeof v === 'string' && v) return v; return ''; };
  return {
    id: str(o.id, o.agent_id, o.agent),
    hostname: str(o.hostname, o.host),
    version: str(o.agent_version, o.version),
    os: str(o.os),
    state: str(o.state) || 'unknown',
    lastSeen: str(o.last_seen, o.last_heartbeat),
    values: o.values && typeof o.values === 'object' ? o.values : {},
  };
}

// fetchAgents returns the fleet as agentInfo records.
export async function fetchAgents(signal) {
  const data = await get('/api/v1/agents', null, { signal });
  return listOf(data, 'agents', 'items').map(agentInfo).filter((a) => a.id);
}

// pageHeader is a page title with optional tools on the right.
export function pageHeader(title, ...tools) {
  return h('div', { class: 'page-head' }, h('h1', { text: title }), h('div', { class: 'tools' }, tools));
}

// rangePicker is a labelled <select> of time ranges.
export function rangePicker(current, onchange) {
  return h('label', { class: 'field' }, h('span', { text: 'Range' }),
    select({ class: 'range', 'aria-label': 'Time range', onchange: (e) => onchange(e.target.value) },
      rangeChoices(current).map((r) => [`Last ${r}`, r]), current));
}

// every runs fn now and then every ms while the tab is visible; it returns
// a stop function. fn gets an AbortSignal that ends with the next run.
export function every(ms, fn) {
  let timer = null;
  let ctrl = null;
  let stopped = false;
  const run = async () => {
    if (stopped) return;
    ctrl?.abort();
    ctrl = new AbortController();
    try {
      await fn(ctrl.signal);
    } catch (e) {
      // A 401 has already sent the user to the login page.
      if (e.name !== 'AbortError' && e.status !== 401) console.error('console:', e.message);
    }
    if (!stopped && ms > 0) timer = setTimeout(tick, ms);
  };
  const tick = () => {
    if (document.hidden) { timer = setTimeout(tick, ms); return; }
    run();
  };
  run();
  return {
    stop() { stopped = true; clearTimeout(timer); ctrl?.abort(); },
    now() { clearTimeout(timer); run(); },
  };
}

// isAbort tells an aborted fetch from a real failure.
export function isAbort(e) { return e && e.name === 'AbortError'; }
