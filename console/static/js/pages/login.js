// The login page: the query token goes into sessionStorage once the
// collector accepts it, and nowhere else.

import { checkToken, setToken } from '../api.js';
import { h, message } from '../dom.js';
import { go } from '../router.js';

const REASONS = {
  expired: 'The collector no longer accepts the token: sign in again.',
  'signed-out': 'Signed out.',
};

export function mount(root, r) {
  const reason = REASONS[r.params.get('reason')];
  const next = r.params.get('next') || '';
  const input = h('input', {
    id: 'token', name: 'token', type: 'password', required: true,
    autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false',
  });
  const status = h('p', { class: 'msg', id: 'login-status', role: 'status' });
  const button = h('button', { type: 'submit', class: 'primary', text: 'Sign in' });
  let busy = false;
  const form = h('form', { class: 'login-form', method: 'post', action: '#', onsubmit: async (e) => {
    e.preventDefault();
    if (busy) return;
    const token = input.value.trim();
    if (!token) return;
    busy = true;
    button.disabled = true;
    status.className = 'msg';
    status.textContent = 'Checking…';
    try {
      if (await checkToken(token)) {
        setToken(token);
        input.value = '';
        go(next.startsWith('/') && !next.startsWith('/login') ? `#${next}` : '#/fleet');
        return;
      }
      status.className = 'msg msg-error';
      status.textContent = 'The collector did not accept this token.';
      input.select();
    } catch (err) {
      status.className = 'msg msg-error';
      status.textContent = err.message;
    } finally {
      busy = false;
      button.disabled = false;
    }
  } },
  h('label', { for: 'token', text: 'Query token' }),
  input,
  h('p', { class: 'hint', text: 'The contents of the collector\u2019s query token file. It is kept in this tab only and dropped when the tab closes.' }),
  button,
  status);
  root.append(h('section', { class: 'login' },
    h('div', { class: 'login-card' },
      h('h1', null, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }), 'Lightmetrics'),
      reason ? message('info', reason) : null,
      form)));
  input.focus();
  return () => { input.value = ''; };
}
