// Time ranges, query steps and the dashboard variables the console fills
// in ($__interval, $__rate_interval, $__range), as pkg/dashboards documents.

import { parseDuration, promDuration } from './format.js';

// RANGES are the time-range picker's choices.
export const RANGES = ['15m', '1h', '6h', '24h', '7d'];

// SCRAPE is the agents' default collection interval (interval_ms): the
// smallest step worth asking for, and the unit of $__rate_interval.
export const SCRAPE = 10;

const STEPS = [10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];

// rangeChoices is RANGES plus cur when a dashboard's default is another
// duration, in order.
export function rangeChoices(cur) {
  const out = [...RANGES];
  if (cur && !out.includes(cur) && parseDuration(cur) > 0) out.push(cur);
  return out.sort((a, b) => parseDuration(a) - parseDuration(b));
}

// timeWindow returns the time window ending now: { start, end, step, range }
// in seconds. The end is now itself, not rounded down to the step, so a
// long range still shows the newest samples.
export function timeWindow(rangeText, now = Date.now() / 1000) {
  let range = parseDuration(rangeText);
  if (!(range > 0)) range = 3600;
  const want = range / 300; // about 300 points across a chart
  const step = STEPS.find((s) => s >= want) ?? STEPS[STEPS.length - 1];
  const end = Math.floor(now);
  return { start: end - range, end, step, range };
}

// builtins are the values of the built-in variables for window w.
export function builtins(w) {
  return {
    __interval: promDuration(w.step),
    // Never under four collection intervals (rate() needs two samples,
    // with room for a missed one), nor under the step plus one interval
    // (so no sample falls between windows).
    __rate_interval: promDuration(Math.max(4 * SCRAPE, w.step + SCRAPE)),
    __range: promDuration(w.range),
  };
}

const REF_ANY = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;
const REF_BRACED = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

// substitute replaces $name and ${name} with values[name] as plain text
// (only ${name} when bracedOnly, for regular expressions where "$" is an
// anchor). Unknown names and "$" before a non-identifier ("$1") stay.
export function substitute(s, values, bracedOnly = false) {
  if (!s) return s || '';
  return s.replace(bracedOnly ? REF_BRACED : REF_ANY, (m, a, b) => {
    const n = a ?? b;
    return Object.prototype.hasOwnProperty.call(values, n) ? String(values[n]) : m;
  });
}

// parseLabelValues reads label_values(label) or label_values(selector,
// label) into { selector, label }, or null.
export function parseLabelValues(q) {
  const s = String(q || '').trim();
  const m = /^label_values\(([\s\S]*)\)$/.exec(s);
  if (!m) return null;
  const inner = m[1];
  const i = inner.lastIndexOf(',');
  if (i < 0) return { selector: '', label: inner.trim() };
  return { selector: inner.slice(0, i).trim(), label: inner.slice(i + 1).trim() };
}
