// Fragment routing: "#/d/host-detail?range=1h" is page "d", argument
// "host-detail" and its parameters. The fragment never leaves the browser,
// and never holds the token.

// route reads the current fragment into { name, arg, params, path }.
export function route() {
  const raw = location.hash.replace(/^#\/?/, '');
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const query = q < 0 ? '' : raw.slice(q + 1);
  const [name = '', ...rest] = path.split('/');
  let arg = '';
  try { arg = rest.map(decodeURIComponent).join('/'); } catch { arg = rest.join('/'); }
  return { name: name || 'fleet', arg, params: new URLSearchParams(query), path };
}

// link builds a fragment URL from a page, an optional argument and params
// (empty values left out).
export function link(name, arg, params) {
  let s = `#/${name}`;
  if (arg) s += `/${encodeURIComponent(arg)}`;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const qs = q.toString();
  return qs ? `${s}?${qs}` : s;
}

// go navigates; the router mounts the page on hashchange, also when the
// fragment is unchanged (a plain "reload this page").
export function go(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = hash;
}

// replace records page state in the fragment without mounting the page
// again (the explorer's expression, say).
export function replace(hash) {
  history.replaceState(null, '', hash);
}
