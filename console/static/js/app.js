// The console's entry point: a hash router (#/fleet, #/d/<id>?var-agent=…)
// that mounts one page at a time into <main>. Each page's mount returns a
// cleanup function that aborts its requests, timers and streams.

import { clearToken, getToken, onUnauthorized } from './api.js';
import { h, message } from './dom.js';
import * as login from './pages/login.js';
import * as fleet from './pages/fleet.js';
import * as dashboards from './pages/dashboards.js';
import * as dashboard from './pages/dashboard.js';
import * as explore from './pages/explore.js';
import * as logs from './pages/logs.js';
import * as alerts from './pages/alerts.js';
import { go, link, route } from './router.js';

const pages = { login, fleet, dashboards, d: dashboard, explore, logs, alerts };

const main = document.getElementById('main');
const topbar = document.getElementById('topbar');
let cleanup = null;

function render() {
  const r = route();
  const signedIn = getToken() !== '';
  if (!signedIn && r.name !== 'login') {
    const next = r.path && r.name !== 'login' ? location.hash.slice(1) : '';
    go(link('login', '', { next }));
    return;
  }
  if (signedIn && r.name === 'login') {
    go('#/fleet');
    return;
  }
  if (cleanup) {
    try { cleanup(); } catch (e) { console.error('console: page cleanup', e); }
    cleanup = null;
  }
  topbar.hidden = r.name === 'login';
  for (const a of topbar.querySelectorAll('nav a')) {
    const on = a.dataset.route === r.name || (r.name === 'd' && a.dataset.route === 'dashboards');
    a.classList.toggle('active', on);
    if (on) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  main.replaceChildren();
  const page = pages[r.name];
  if (!page) {
    main.append(h('section', { class: 'page' }, message('error', 'There is no such page.')));
    return;
  }
  cleanup = page.mount(main, r) || null;
  main.focus({ preventScroll: true });
}

// signOut drops the token. After a 401 the login returns to the page the
// user was on; after "Sign out" it starts afresh.
function signOut(reason) {
  clearToken();
  if (cleanup) { try { cleanup(); } catch { /* leaving anyway */ } cleanup = null; }
  const next = reason === 'expired' && route().name !== 'login' ? location.hash.slice(1) : '';
  go(link('login', '', { reason, next }));
}

onUnauthorized(() => signOut('expired'));
document.getElementById('signout').addEventListener('click', () => signOut('signed-out'));
window.addEventListener('hashchange', render);
// Charts read their colours when drawn: draw again when the theme flips.
matchMedia('(prefers-color-scheme: dark)').addEventListener('change', render);
main.tabIndex = -1;
render();
