// Charts, drawn with uPlot (vendored, loaded by index.html as the global
// uPlot). uPlot styles its elements through the CSSOM, which the page's
// Content-Security-Policy allows; its legend sets series names with
// textContent, so label values stay text.

import { num, timestamp, value as fmtValue } from './format.js';

// Readable on light and dark backgrounds alike.
const PALETTE = ['#3b82f6', '#f59e0b', '#10b981', '#ef4444', '#8b5cf6', '#06b6d4',
  '#ec4899', '#84cc16', '#f97316', '#6366f1', '#14b8a6', '#eab308'];

export const MAX_SERIES = 40;

export function color(i) { return PALETTE[i % PALETTE.length]; }

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function lib() {
  const U = globalThis.uPlot;
  if (typeof U !== 'function') throw new Error('The chart library did not load.');
  return U;
}

// align puts Prometheus matrix results on the window's step grid: one x
// per step, null where a series has no sample. Returns { xs, ys[], points }.
export function align(w, results) {
  const n = Math.floor((w.end - w.start) / w.step) + 1;
  const xs = new Array(n);
  for (let i = 0; i < n; i++) xs[i] = w.start + i * w.step;
  let points = 0;
  const ys = results.map((r) => {
    const ys1 = new Array(n).fill(null);
    for (const [t, v] of r.values || []) {
      const i = Math.round((Number(t) - w.start) / w.step);
      if (i >= 0 && i < n) {
        const f = num(v);
        ys1[i] = Number.isFinite(f) ? f : null;
        if (ys1[i] !== null) points++;
      }
    }
    return ys1;
  });
  return { xs, ys, points };
}

function axisSize(unit) {
  return (u, values) => {
    if (!values) return 48;
    const longest = values.reduce((m, v) => Math.max(m, String(v).length), 0);
    return Math.max(40, Math.ceil(longest * 6.6) + 16);
  };
}

// timeseries draws series [{ label, ys }] over xs into el, sized to el and
// following its size. Returns { destroy }.
export function timeseries(el, { xs, series, unit, decimals }) {
  const U = lib();
  const muted = cssVar('--muted');
  const grid = cssVar('--grid');
  const axis = {
    stroke: muted,
    grid: { stroke: grid, width: 1 },
    ticks: { stroke: grid, width: 1, size: 4 },
    font: '11px system-ui, sans-serif',
  };
  // The legend sits under the plot inside el: the plot gets what it leaves.
  let u = null;
  const legendHeight = () => (u && u.root.querySelector('.u-legend')?.offsetHeight) || 24;
  const height = () => Math.max(60, el.clientHeight - legendHeight() - 2);
  u = new U({
    width: Math.max(el.clientWidth, 120),
    height: height(),
    legend: { show: true, live: true },
    cursor: { points: { size: 6 }, drag: { x: false, y: false } },
    scales: { x: { time: true } },
    series: [
      { value: (_, v) => (v == null ? '' : timestamp(v * 1000)) },
      ...series.map((s, i) => ({
        label: s.label,
        stroke: color(i),
        width: 1.5,
        points: { show: false },
        value: (_, v) => fmtValue(v, unit, decimals),
      })),
    ],
    axes: [
      axis,
      { ...axis, size: axisSize(unit), values: (_, splits) => splits.map((v) => fmtValue(v, unit)) },
    ],
  }, [xs, ...series.map((s) => s.ys)], el);
  u.setSize({ width: u.width, height: height() });
  const ro = new ResizeObserver(() => {
    const width = Math.max(el.clientWidth, 120);
    if (width !== u.width || height() !== u.height) u.setSize({ width, height: height() });
  });
  ro.observe(el);
  return { destroy() { ro.disconnect(); u.destroy(); } };
}

// sparkline draws one small line without axes or legend, with a 0..max
// y scale (max null: fit the data).
export function sparkline(el, xs, ys, { width = 120, height = 28, max = null } = {}) {
  const U = lib();
  const u = new U({
    width,
    height,
    class: 'spark',
    cursor: { show: false },
    legend: { show: false },
    select: { show: false },
    scales: { x: { time: false }, y: { range: (_, lo, hi) => [0, max ?? Math.max(hi, 1)] } },
    axes: [{ show: false }, { show: false }],
    series: [{}, { stroke: color(0), fill: cssVar('--spark-fill'), width: 1.25, points: { show: false } }],
  }, [xs, ys], el);
  return { destroy() { u.destroy(); } };
}
