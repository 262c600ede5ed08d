// Log records as a list, shared by the logs page and logs panels. The
// message and every attribute are text nodes: a line holding markup shows
// the markup.

import { h } from './dom.js';
import { timestamp } from './format.js';

// logRow renders one /api/v1/logs record (or live "log" event).
export function logRow(rec, { showAgent = true, fresh = false } = {}) {
  const r = rec && typeof rec === 'object' ? rec : {};
  const attrs = r.attributes && typeof r.attributes === 'object' ? r.attributes : {};
  const level = typeof attrs.level === 'string' ? attrs.level.toLowerCase() : '';
  return h('li', { class: `log-row${fresh ? ' fresh' : ''}${level ? ` level-${level.replace(/[^a-z]/g, '')}` : ''}`, dataset: { id: String(r.id ?? '') } },
    h('time', { datetime: String(r.time ?? ''), text: timestamp(r.time, true) }),
    showAgent ? h('span', { class: 'log-agent', text: String(r.agent ?? '') }) : null,
    h('span', { class: 'log-source', text: String(r.source ?? '') }),
    h('span', { class: 'log-message', text: String(r.message ?? '') }),
    r.truncated ? h('span', { class: 'log-flag', text: 'truncated' }) : null,
    Object.keys(attrs).length
      ? h('span', { class: 'log-attrs' }, Object.entries(attrs).sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => h('span', { class: 'attr', text: `${k}=${v}` })))
      : null);
}

// logList renders records into a fresh list.
export function logList(records, opts) {
  return h('ol', { class: 'log-list' }, records.map((r) => logRow(r, opts)));
}
