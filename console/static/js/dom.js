// DOM helpers. Everything the console shows goes through h(), which sets
// text with textContent / Text nodes and never parses HTML: a hostname or
// log line is always text, whatever characters it holds. (The page's CSP
// also turns on Trusted Types, so an HTML-string sink would throw.)

// h creates an element. props: class, text, dataset, on<event> handlers
// (functions), any other key as an attribute; children are nodes or
// strings (strings become Text nodes), nested arrays and null are allowed.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = String(v);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected') el[k] = v;
      else if (k === 'style' || k.startsWith('on')) throw new Error(`h: refusing ${k} attribute`);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

// append adds children (nodes, strings, arrays) to el.
export function append(el, children) {
  for (const c of [children].flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

// option builds a <select> option; Option() sets its label as text.
export function option(label, value, selected = false) {
  return new Option(label, value, selected, selected);
}

// select builds a <select> of [label, value] pairs (or plain values).
export function select(props, items, current) {
  const el = h('select', props);
  for (const it of items) {
    const [label, value] = Array.isArray(it) ? it : [it, it];
    el.append(option(label, value, value === current));
  }
  return el;
}

// message is a short status line: "info", "error" or "empty".
export function message(kind, text) {
  return h('p', { class: `msg msg-${kind}`, role: kind === 'error' ? 'alert' : null, text });
}

// cell is a table cell: a node, text, or { props, node } for a cell with
// attributes (a class, say).
export function cell(c) {
  if (c instanceof Node || typeof c !== 'object' || c === null || Array.isArray(c)) return h('td', null, c);
  return h('td', c.props, c.node);
}

// table builds a table in a scrolling wrapper from headers (text, or
// { text, class }) and rows ({ props, cells }).
export function table(headers, rows, props = {}) {
  return h('div', { class: 'table-wrap' },
    h('table', props,
      h('thead', null, h('tr', null, headers.map((c) => h('th', typeof c === 'string' ? { text: c } : c)))),
      h('tbody', null, rows.map((r) => h('tr', r.props || null, r.cells.map(cell))))));
}
