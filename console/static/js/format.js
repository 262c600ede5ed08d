// Number, time and duration formatting for panels, tables and axes.

// num reads a Prometheus sample value ("1.5", "NaN", "+Inf", "-Inf").
export function num(s) {
  if (typeof s === 'number') return s;
  switch (s) {
    case '+Inf': case 'Inf': return Infinity;
    case '-Inf': return -Infinity;
    default: return parseFloat(s);
  }
}

const DURATION_RE = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;

// parseDuration reads a Prometheus duration ("90s", "1h30m", "7d") into
// seconds, or returns NaN.
export function parseDuration(s) {
  const m = DURATION_RE.exec(String(s || '').trim());
  if (!m || m[0] === '') return NaN;
  const mult = [31536000, 604800, 86400, 3600, 60, 1, 0.001];
  return m.slice(1).reduce((t, v, i) => t + (v ? Number(v) * mult[i] : 0), 0);
}

// promDuration writes seconds as a Prometheus duration in whole seconds
// (or minutes/hours when exact), for $__interval and friends.
export function promDuration(sec) {
  const s = Math.max(1, Math.round(sec));
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}

function fixed(v, decimals) {
  if (decimals !== undefined && decimals !== null) return v.toFixed(decimals);
  const a = Math.abs(v);
  if (a === 0 || Number.isInteger(v)) return String(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(2);
}

function scaled(v, base, units, decimals) {
  let i = 0;
  let x = v;
  while (Math.abs(x) >= base && i < units.length - 1) { x /= base; i++; }
  return `${fixed(x, i === 0 && decimals == null && Number.isInteger(x) ? 0 : decimals)} ${units[i]}`.trim();
}

const BYTES = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
const SI = ['', 'k', 'M', 'G', 'T', 'P'];

// duration writes seconds for people: "850 ms", "42 s", "3 h 5 min", "12 d 4 h".
export function duration(sec, decimals) {
  const a = Math.abs(sec);
  if (a < 1) return `${fixed(sec * 1000, decimals ?? (a * 1000 >= 10 ? 0 : 1))} ms`;
  if (a < 60) return `${fixed(sec, decimals)} s`;
  const sign = sec < 0 ? '-' : '';
  const t = Math.round(a);
  const d = Math.floor(t / 86400);
  const hh = Math.floor((t % 86400) / 3600);
  const mm = Math.floor((t % 3600) / 60);
  if (d > 0) return `${sign}${d} d ${hh} h`;
  if (hh > 0) return `${sign}${hh} h ${mm} min`;
  return `${sign}${mm} min ${t % 60} s`;
}

// value formats v in a panel unit (pkg/dashboards' Unit values).
export function value(v, unit, decimals) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : '-Inf';
  switch (unit) {
    case 'bytes': return scaled(v, 1024, BYTES, decimals);
    case 'bytes_per_second': return `${scaled(v, 1024, BYTES, decimals)}/s`;
    case 'seconds': return duration(v, decimals);
    case 'percent': return `${fixed(v, decimals)}%`;
    case 'ratio': return `${fixed(v * 100, decimals)}%`;
    case 'ops': return `${scaled(v, 1000, SI, decimals)}/s`;
    case 'count': return scaled(v, 1000, SI, decimals ?? (Number.isInteger(v) ? 0 : undefined));
    default: return Math.abs(v) >= 1e6 ? scaled(v, 1000, SI, decimals) : fixed(v, decimals);
  }
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

// timestamp writes a time in local time, "2024-05-01 12:34:56".
export function timestamp(t, ms = false) {
  const d = t instanceof Date ? t : new Date(t);
  if (Number.isNaN(d.getTime())) return String(t ?? '');
  const s = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return ms ? `${s}.${pad(d.getMilliseconds(), 3)}` : s;
}

// ago writes how long before now t was: "12 s ago", "3 min ago".
export function ago(t, now = Date.now()) {
  const d = t instanceof Date ? t : new Date(t);
  if (Number.isNaN(d.getTime())) return 'never';
  const s = Math.max(0, (now - d.getTime()) / 1000);
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

// seriesName is a series' labels as PromQL would print them.
export function seriesName(metric) {
  const m = metric || {};
  const name = m.__name__ || '';
  const labels = Object.keys(m).filter((k) => k !== '__name__').sort()
    .map((k) => `${k}=${JSON.stringify(String(m[k]))}`);
  if (!labels.length) return name || '{}';
  return `${name}{${labels.join(', ')}}`;
}

// legend fills a {{label}} template from a series' labels; no template
// means the full series name.
export function legend(template, metric) {
  if (!template) return seriesName(metric);
  return template.replace(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g, (_, k) => (metric && metric[k] != null ? String(metric[k]) : ''));
}
