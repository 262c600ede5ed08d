// The fleet page: every agent with its state, last contact and an hour of
// CPU use.

import { get } from '../api.js';
import { h, message, table } from '../dom.js';
import { ago, num, timestamp, value as fmtValue } from '../format.js';
import { align, sparkline } from '../chart.js';
import { builtins, timeWindow } from '../time.js';
import { link } from '../router.js';
import { every, fetchAgents, isAbort, pageHeader } from './common.js';

// cpuExpr is busy CPU in percent of all CPUs, per agent: the heartbeat's
// idle time summed over CPUs, against the CPU count (docs/metrics.md).
export const cpuExpr = (rateInterval) =>
  `100 * (1 - rate(host_cpu_idle_seconds_total[${rateInterval}]) / on (agent) host_cpu_count)`;

const STATE_ORDER = { down: 0, stale: 1, up: 2 };

export function mount(root) {
  const summary = h('p', { class: 'summary', role: 'status' });
  const body = h('div', { class: 'fleet-body' });
  root.append(h('section', { class: 'page fleet' }, pageHeader('Fleet', summary), body));
  let charts = [];

  const refresh = every(30000, async (signal) => {
    const w = timeWindow('1h');
    const [agents, cpu] = await Promise.all([
      fetchAgents(signal),
      get('/api/v1/query_range', { query: cpuExpr(builtins(w).__rate_interval), start: w.start, end: w.end, step: w.step }, { signal })
        .catch((e) => { if (isAbort(e)) throw e; return null; }),
    ]).catch((e) => {
      if (!isAbort(e)) body.replaceChildren(message('error', `Could not load the fleet: ${e.message}`));
      throw e;
    });
    charts.forEach((c) => c.destroy());
    charts = [];
    const byAgent = new Map();
    for (const r of (cpu && cpu.result) || []) if (r.metric && r.metric.agent) byAgent.set(r.metric.agent, r);

    const counts = { up: 0, stale: 0, down: 0 };
    for (const a of agents) counts[a.state] = (counts[a.state] || 0) + 1;
    summary.replaceChildren(
      ...['up', 'stale', 'down'].map((s) => h('span', { class: `chip state-${s}`, text: `${counts[s] || 0} ${s}` })),
      h('span', { class: 'muted', text: `updated ${timestamp(new Date()).slice(11)}` }));

    if (!agents.length) {
      body.replaceChildren(message('empty', 'No agent has reported to this collector yet.'));
      return;
    }
    agents.sort((a, b) => (STATE_ORDER[a.state] ?? 3) - (STATE_ORDER[b.state] ?? 3) || a.id.localeCompare(b.id));
    const rows = agents.map((a) => {
      const spark = h('span', { class: 'spark-box' });
      const last = h('span', { class: 'cpu-now' });
      const series = byAgent.get(a.id);
      if (series) {
        const { xs, ys, points } = align(w, [series]);
        const lastVal = [...ys[0]].reverse().find((v) => v !== null);
        last.textContent = lastVal === undefined ? '' : fmtValue(lastVal, 'percent', 0);
        if (points > 0) {
          try { charts.push(sparkline(spark, xs, ys[0], { max: 100 })); } catch (e) { spark.textContent = '–'; }
        }
      } else {
        spark.textContent = '–';
      }
      const load = a.values.host_load1 !== undefined ? fmtValue(num(a.values.host_load1), 'none', 2) : '–';
      return {
        props: { dataset: { agent: a.id, state: a.state } },
        cells: [
          { props: { class: 'state' }, node: h('span', { class: `badge state-${a.state}`, text: a.state }) },
          { props: { class: 'host-cell' }, node: h('a', { class: 'host', href: link('d', 'host-detail', { 'var-agent': a.id }), text: a.hostname || a.id }) },
          { props: { class: 'wide-only mono' }, node: a.id },
          { props: { class: 'cpu' }, node: [spark, last] },
          { props: { class: 'wide-only num' }, node: load },
          { props: { class: 'seen', title: a.lastSeen ? timestamp(a.lastSeen) : '' }, node: a.lastSeen ? ago(a.lastSeen) : 'never' },
          { props: { class: 'wide-only' }, node: [a.version, a.os ? ` · ${a.os}` : ''] },
          { props: { class: 'links' }, node: [
            h('a', { href: link('d', 'processes', { 'var-agent': a.id }), text: 'Processes' }),
            h('a', { href: link('logs', '', { agent: a.id }), text: 'Logs' }),
          ] },
        ],
      };
    });
    body.replaceChildren(table(
      ['State', 'Host', { text: 'Agent', class: 'wide-only' }, 'CPU (1 h)', { text: 'Load', class: 'wide-only' },
        'Last seen', { text: 'Version', class: 'wide-only' }, ''],
      rows, { class: 'fleet-table' }));
  });

  return () => { refresh.stop(); charts.forEach((c) => c.destroy()); };
}
