// Weir's web UI: a hash router over a few page modules. Every page reads the REST API under
// /ajax-api/2.0/; nothing is built or bundled.
import { h, errorBox, pageHeader } from './js/dom.js';
import { parseQuery } from './js/lib/filter.js';
import * as experiments from './js/pages/experiments.js';
import * as experiment from './js/pages/experiment.js';
import * as run from './js/pages/run.js';
import * as compare from './js/pages/compare.js';
import * as models from './js/pages/models.js';
import * as admin from './js/pages/admin.js';
import { session } from './js/session.js';

const ROUTES = [
  [/^\/?$/, [], experiments.render, 'experiments'],
  [/^\/experiments\/?$/, [], experiments.render, 'experiments'],
  [/^\/experiments\/([^/]+)\/?$/, ['id'], experiment.render, 'experiments'],
  [/^\/experiments\/([^/]+)\/runs\/([^/]+)\/?$/, ['eid', 'rid'], run.render, 'experiments'],
  [/^\/runs\/([^/]+)\/?$/, ['id'], run.resolve, 'experiments'],
  [/^\/compare\/?$/, [], compare.render, 'experiments'],
  [/^\/models\/?$/, [], models.renderList, 'models'],
  [/^\/models\/([^/]+)\/?$/, ['name'], models.renderModel, 'models'],
  [/^\/models\/([^/]+)\/versions\/([^/]+)\/?$/, ['name', 'version'], models.renderVersion, 'models'],
  [/^\/admin\/?$/, [], admin.renderUsers, 'admin'],
  [/^\/admin\/users\/([^/]+)\/?$/, ['name'], admin.renderUser, 'admin'],
  [/^\/account\/?$/, [], admin.renderAccount, 'account'],
];

export function match(hash) {
  const raw = (hash || '').replace(/^#/, '');
  const qi = raw.indexOf('?');
  const path = qi < 0 ? raw : raw.slice(0, qi);
  const query = parseQuery(qi < 0 ? '' : raw.slice(qi + 1));
  for (const [re, names, render, nav] of ROUTES) {
    const m = re.exec(path || '/');
    if (m) return { path: path || '/', params: Object.fromEntries(names.map((n, i) => [n, m[i + 1]])), query, render, nav };
  }
  return { path, params: {}, query, render: null, nav: null };
}

const main = document.getElementById('main');
let current = { path: null, controller: null };

// The skip link moves focus without touching the hash router (no inline handlers: the
// Content-Security-Policy allows scripts from this origin's files only).
document.querySelector('a.skip')?.addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});

async function route() {
  const r = match(location.hash);
  for (const a of document.querySelectorAll('.topnav a, .whoami')) a.classList.toggle('active', a.dataset.nav === r.nav);
  if (r.path === current.path && current.controller && current.controller.update) {
    current.controller.update(r.query);
    return;
  }
  const view = h('div', { class: 'view' });
  main.replaceChildren(view);
  current = { path: r.path, controller: null };
  window.scrollTo(0, 0);
  if (!r.render) {
    document.title = 'Not found · Weir';
    view.append(pageHeader([['Experiments', '#/']], 'Page not found'), h('p', null, `Nothing lives at ${location.hash}.`));
    return;
  }
  try {
    const controller = await r.render(view, r.params, r.query);
    if (current.path === r.path) current.controller = controller;
  } catch (e) {
    console.error(e);
    view.append(errorBox(e, 'This page failed'));
  }
}

// Who is signed in (when the server has users): their name in the top bar, and the admin page
// in the menu for admins. Pages ask the same session before drawing actions.
async function showSession() {
  let s;
  try {
    s = await session();
  } catch (e) {
    console.warn('session', e);
    return;
  }
  if (!s.auth) return;
  const nav = document.querySelector('.topnav');
  if (s.user.is_admin && !nav.querySelector('[data-nav=admin]')) {
    nav.append(h('a', { href: '#/admin', 'data-nav': 'admin' }, 'Admin'));
  }
  document.querySelector('.topbar').append(h('a', { class: 'whoami', href: '#/account', 'data-nav': 'account', title: 'Your account and tokens' },
    h('span', { class: 'muted' }, 'Signed in as '), h('strong', null, s.user.username), s.user.is_admin ? h('span', { class: 'chip alias' }, 'admin') : null));
}

window.addEventListener('hashchange', route);
route();
showSession();
