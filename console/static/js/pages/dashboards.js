// The dashboards list: built-in and custom definitions from the collector.

import { get, listOf } from '../api.js';
import { h, message } from '../dom.js';
import { link } from '../router.js';
import { isAbort, pageHeader } from './common.js';

export function mount(root) {
  const body = h('div', { class: 'cards' }, message('info', 'Loading…'));
  root.append(h('section', { class: 'page' }, pageHeader('Dashboards'), body));
  const ctrl = new AbortController();
  get('/api/v1/dashboards', null, { signal: ctrl.signal }).then((data) => {
    const list = listOf(data, 'dashboards');
    if (!list.length) {
      body.replaceChildren(message('empty', 'No dashboards are defined.'));
      return;
    }
    body.replaceChildren(...list.map((d) => h('a', { class: 'card', href: link('d', String(d.id || '')), dataset: { dashboard: String(d.id || '') } },
      h('h2', { text: String(d.title || d.id || '') }),
      d.description ? h('p', { text: String(d.description) }) : null,
      h('p', { class: 'tags' },
        h('span', { class: `tag ${d.builtin ? 'tag-builtin' : 'tag-custom'}`, text: d.builtin ? 'built-in' : 'custom' }),
        (Array.isArray(d.tags) ? d.tags : []).map((t) => h('span', { class: 'tag', text: String(t) }))))));
  }).catch((e) => {
    if (!isAbort(e)) body.replaceChildren(message('error', `Could not load the dashboards: ${e.message}`));
  });
  return () => ctrl.abort();
}
