// The console's only way to the collector: same-origin fetch() calls with
// the query token as a bearer header. The token lives in sessionStorage
// (gone when the tab closes), never in a URL, a cookie or a log line.

const TOKEN_KEY = 'lightmetrics.token';

export function getToken() {
  try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}

export function setToken(token) { sessionStorage.setItem(TOKEN_KEY, token); }

export function clearToken() {
  try { sessionStorage.removeItem(TOKEN_KEY); } catch { /* storage disabled */ }
}

// APIError is a failed call: status is the HTTP status (0 when the
// collector could not be reached), type the API's errorType.
export class APIError extends Error {
  constructor(status, type, message) {
    super(message);
    this.name = 'APIError';
    this.status = status;
    this.type = type;
  }
}

let unauthorized = () => {};

// onUnauthorized sets what happens when any call answers 401: the app
// drops the token and shows the login page.
export function onUnauthorized(fn) { unauthorized = fn; }

// apiURL builds a same-origin path with query parameters; empty, null and
// undefined values are left out, arrays repeat the parameter.
export function apiURL(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    for (const x of [v].flat()) {
      if (x !== undefined && x !== null && x !== '') q.append(k, String(x));
    }
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

function headers(token, extra) {
  return { Authorization: `Bearer ${token}`, ...extra };
}

const fetchDefaults = { cache: 'no-store', credentials: 'omit', redirect: 'error', referrerPolicy: 'no-referrer' };

// get calls a JSON API and returns the envelope's data. A 401 signs the
// user out (and throws); other failures throw APIError with the API's own
// message.
export async function get(path, params, { signal } = {}) {
  const url = apiURL(path, params);
  let res;
  try {
    res = await fetch(url, { ...fetchDefaults, signal, headers: headers(getToken(), { Accept: 'application/json' }) });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new APIError(0, 'network', 'The collector could not be reached.');
  }
  if (res.status === 401) {
    unauthorized();
    throw new APIError(401, 'unauthorized', 'Not signed in.');
  }
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  if (!res.ok || !body || body.status !== 'success') {
    const msg = (body && typeof body.error === 'string' && body.error) || `HTTP ${res.status}`;
    throw new APIError(res.status, (body && body.errorType) || 'http', msg);
  }
  return body.data;
}

// checkToken asks the collector whether token is accepted, without
// storing it or signing anyone out: true, false, or an APIError thrown when
// the collector cannot answer.
export async function checkToken(token) {
  let res;
  try {
    res = await fetch('/api/v1/agents', { ...fetchDefaults, headers: headers(token, { Accept: 'application/json' }) });
  } catch {
    throw new APIError(0, 'network', 'The collector could not be reached.');
  }
  if (res.status === 401 || res.status === 403) return false;
  if (!res.ok) throw new APIError(res.status, 'http', `The collector answered HTTP ${res.status}.`);
  return true;
}

// listOf digs the array out of an answer that is either the array itself
// or an object holding it under one of keys (the API wraps some lists).
export function listOf(data, ...keys) {
  if (Array.isArray(data)) return data;
  for (const k of keys) {
    if (data && Array.isArray(data[k])) return data[k];
  }
  return [];
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}

// stream follows a Server-Sent Events endpoint. EventSource cannot send an
// Authorization header, so this reads the body of a fetch() and parses the
// event stream itself, reconnecting after a drop with Last-Event-ID so the
// server can resume where the stream left off.
//   onEvent({ type, data, id }) for each event; onState(state, detail) with
//   "connecting", "open", "reconnecting" or "closed".
// It returns a function that stops the stream.
export function stream(path, params, { onEvent, onState = () => {} }) {
  const ctrl = new AbortController();
  const { signal } = ctrl;
  let lastID = '';
  let retry = 1000;
  (async () => {
    let failures = 0;
    while (!signal.aborted) {
      onState(failures ? 'reconnecting' : 'connecting');
      try {
        const extra = { Accept: 'text/event-stream' };
        if (lastID) extra['Last-Event-ID'] = lastID;
        const res = await fetch(apiURL(path, params), { ...fetchDefaults, signal, headers: headers(getToken(), extra) });
        if (res.status === 401) {
          unauthorized();
          break;
        }
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        failures = 0;
        onState('open');
        await readEvents(res.body, signal, {
          onEvent,
          onID: (id) => { lastID = id; },
          onRetry: (ms) => { retry = ms; },
        });
      } catch (e) {
        if (signal.aborted) break;
        failures++;
        onState('reconnecting', e.message);
      }
      if (signal.aborted) break;
      // Back off on repeated failures, up to 30 s; a clean end of stream
      // reconnects after the server's retry delay.
      await sleep(Math.min(retry * 2 ** Math.min(failures, 5), 30000), signal);
    }
    onState('closed');
  })();
  return () => ctrl.abort();
}

// readEvents parses an event stream (the WHATWG "text/event-stream" rules)
// until it ends.
async function readEvents(body, signal, { onEvent, onID, onRetry }) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  signal.addEventListener('abort', () => { reader.cancel().catch(() => {}); }, { once: true });
  let buf = '';
  let type = '';
  let data = [];
  let id = null;
  const line = (l) => {
    if (l === '') {
      if (id !== null) onID(id);
      if (data.length) onEvent({ type: type || 'message', data: data.join('\n'), id: id ?? '' });
      type = ''; data = []; id = null;
      return;
    }
    if (l.startsWith(':')) return; // keep-alive comment
    const i = l.indexOf(':');
    const field = i < 0 ? l : l.slice(0, i);
    let value = i < 0 ? '' : l.slice(i + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') type = value;
    else if (field === 'data') data.push(value);
    else if (field === 'id' && !value.includes('\0')) id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) onRetry(Number(value));
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    // A trailing "\r" may be half of "\r\n": keep it for the next chunk.
    let hold = '';
    if (buf.endsWith('\r')) { hold = '\r'; buf = buf.slice(0, -1); }
    const parts = buf.split(/\r\n|\r|\n/);
    buf = parts.pop() + hold;
    for (const p of parts) line(p);
  }
}
