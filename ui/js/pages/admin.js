// Users and permissions (admins), and one's own account (password, personal access tokens).
// Everything goes through the basic-auth app's REST API, as MLflow's AuthServiceClient does.
import { h, loading, errorBox, empty, pageHeader, section, chip, formDialog } from '../dom.js';
import { mlflow, mlflow3, weir } from '../api.js';
import { session } from '../session.js';
import { formatTime } from '../lib/format.js';

const enc = encodeURIComponent;
const LEVELS = ['READ', 'USE', 'EDIT', 'MANAGE', 'NO_PERMISSIONS'];
const levelOptions = LEVELS.map((l) => [l, l]);

/** The session, or a page saying why there is nothing to manage here (then null). */
async function gate(view, title, { admin }) {
  view.replaceChildren(loading());
  let s;
  try {
    s = await session();
  } catch (e) {
    view.replaceChildren(pageHeader(null, title), errorBox(e, 'Could not ask who is signed in'));
    return null;
  }
  if (!s.auth) {
    view.replaceChildren(pageHeader(null, title), empty(
      'Authentication is off: everyone who reaches this server may do everything. Start it with ' +
      '`weir server --app-name basic-auth` to have users and permissions.'));
    return null;
  }
  if (admin && !s.user.is_admin) {
    view.replaceChildren(pageHeader(null, title), empty(
      `Only admins manage users and permissions. You are signed in as ${s.user.username}.`));
    return null;
  }
  return s;
}

/** A password dialog: an admin sets anyone's; changing one's own needs the current one. */
function passwordDialog(username, self, done) {
  const fields = self ? [{ name: 'current_password', label: 'Current password', type: 'password' }] : [];
  fields.push({ name: 'password', label: 'New password (at least 12 characters)', type: 'password' });
  formDialog({
    title: self ? 'Change your password' : `Set ${username}'s password`, fields, submitLabel: 'Save',
    onSubmit: async (v) => {
      await mlflow('PATCH', 'users/update-password', { username, password: v.password, ...(self ? { current_password: v.current_password } : {}) });
      if (done) done();
    },
  });
}

/** `#/admin`: every user, with admin rights, password reset and deletion. */
export async function renderUsers(view) {
  document.title = 'Users · Weir';
  const s = await gate(view, 'Users and permissions', { admin: true });
  if (!s) return null;
  const body = h('div', { class: 'list-body' });
  const createBtn = h('button', { type: 'button', class: 'btn primary', onclick: () => formDialog({
    title: 'Create user', submitLabel: 'Create',
    fields: [{ name: 'username', label: 'Username' }, { name: 'password', label: 'Password (at least 12 characters)', type: 'password' }],
    onSubmit: async ({ username, password }) => {
      await mlflow('POST', 'users/create', { username: username.trim(), password });
      load();
    },
  }) }, 'Create user');
  view.replaceChildren(pageHeader([['Admin', null]], 'Users and permissions', createBtn),
    h('p', { class: 'muted' }, 'Open a user to grant them permissions on experiments and registered models. ',
      `Without a grant a user has the server's default permission, ${s.default_permission}.`),
    body);

  async function act(fn) {
    try { await fn(); load(); } catch (e) { body.prepend(errorBox(e)); }
  }
  async function load() {
    body.replaceChildren(loading('Loading users…'));
    let users;
    try {
      users = (await mlflow('GET', 'users/list')).users || [];
    } catch (e) {
      body.replaceChildren(errorBox(e, 'Could not load users'));
      return;
    }
    users.sort((a, b) => a.username.localeCompare(b.username));
    body.replaceChildren(h('table', { class: 'data users-table' },
      h('thead', null, h('tr', null, ['User', 'Role', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, users.map((u) => {
        const self = u.username === s.user.username;
        return h('tr', { 'data-user': u.username },
          h('td', null, h('a', { href: `#/admin/users/${enc(u.username)}` }, u.username), self ? h('span', { class: 'muted' }, ' (you)') : null),
          h('td', null, u.is_admin ? chip('admin', 'alias') : h('span', { class: 'muted' }, 'user')),
          h('td', { class: 'actions' },
            self ? null : h('button', { type: 'button', class: 'btn small', onclick: () => act(() => mlflow('PATCH', 'users/update-admin', { username: u.username, is_admin: !u.is_admin })) },
              u.is_admin ? 'Remove admin' : 'Make admin'),
            h('button', { type: 'button', class: 'btn small', onclick: () => passwordDialog(u.username, self, load) }, self ? 'Change password' : 'Set password'),
            self ? null : h('button', { type: 'button', class: 'btn small danger', onclick: () => formDialog({
              title: 'Delete user', message: `Delete ${u.username} and all their permissions and tokens?`, submitLabel: 'Delete', danger: true,
              onSubmit: async () => { await mlflow('DELETE', 'users/delete', { username: u.username }); load(); },
            }) }, 'Delete')));
      }))));
  }
  load();
  return null;
}

/** Names of the experiments a user holds grants on (ids that no longer resolve show none). */
async function experimentNames(ids) {
  const names = new Map();
  await Promise.all(ids.slice(0, 200).map((id) => mlflow('GET', 'experiments/get', { experiment_id: id })
    .then((r) => names.set(String(id), r.experiment.name)).catch(() => {})));
  return names;
}

/** `#/admin/users/<name>`: one user's grants, changed and revoked in place, and new ones. */
export async function renderUser(view, { name }) {
  const username = decodeURIComponent(name);
  document.title = `${username} · Users · Weir`;
  const s = await gate(view, username, { admin: true });
  if (!s) return null;
  const crumbs = [['Admin', null], ['Users', '#/admin'], [username, null]];
  const grantBtn = h('button', { type: 'button', class: 'btn primary', onclick: () => formDialog({
    title: `Grant ${username} a permission`, submitLabel: 'Grant',
    fields: [
      { name: 'resource_type', label: 'On', options: [['experiment', 'Experiment (by ID)'], ['registered_model', 'Registered model (by name)']] },
      { name: 'resource_id', label: 'Experiment ID or model name' },
      { name: 'permission', label: 'Permission', options: LEVELS.filter((l) => l !== 'NO_PERMISSIONS').map((l) => [l, l]), value: 'READ' },
    ],
    onSubmit: async (v) => {
      await mlflow3('POST', 'users/permissions/grant', { username, resource_type: v.resource_type, resource_id: v.resource_id.trim(), permission: v.permission });
      load();
    },
  }) }, 'Grant permission');
  const body = h('div');
  view.replaceChildren(pageHeader(crumbs, username, grantBtn), body);

  async function act(fn) {
    try { await fn(); load(); } catch (e) { body.prepend(errorBox(e)); }
  }
  function grantTable(kind, rows, label, href, nameOf) {
    if (!rows.length) return empty(`No ${kind === 'experiment' ? 'experiment' : 'registered model'} grants: the default, ${s.default_permission}, applies.`);
    const legacy = kind === 'experiment' ? 'experiments/permissions/update' : 'registered-models/permissions/update';
    return h('table', { class: `data compact grants-table grants-${kind}` },
      h('thead', null, h('tr', null, [label, 'Permission', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, rows.map((g) => {
        const id = kind === 'experiment' ? String(g.experiment_id) : g.name;
        const select = h('select', { 'aria-label': `Permission on ${id}` }, levelOptions.map(([v, l]) => h('option', { value: v, selected: v === g.permission }, l)));
        select.addEventListener('change', () => act(() => mlflow('PATCH', legacy, {
          username, permission: select.value, ...(kind === 'experiment' ? { experiment_id: id } : { name: id }),
        })));
        return h('tr', { 'data-resource': id },
          h('td', null, h('a', { href: href(id) }, nameOf(id))),
          h('td', null, select),
          h('td', { class: 'actions' }, h('button', { type: 'button', class: 'btn small danger', onclick: () => act(() => mlflow3('POST', 'users/permissions/revoke', {
            username, resource_type: kind, resource_id: id,
          })) }, 'Revoke')));
      })));
  }
  async function load() {
    body.replaceChildren(loading('Loading permissions…'));
    let user, names;
    try {
      user = (await mlflow('GET', 'users/get', { username })).user;
      names = await experimentNames((user.experiment_permissions || []).map((g) => g.experiment_id));
    } catch (e) {
      body.replaceChildren(errorBox(e, 'Could not load the user'));
      return;
    }
    body.replaceChildren(
      h('p', null, user.is_admin ? [chip('admin', 'alias'), ' Admins may do everything; grants below apply only if they stop being admins.'] : `Without a grant, ${username} has the default permission, ${s.default_permission}.`),
      section('Experiments', grantTable('experiment', user.experiment_permissions || [], 'Experiment',
        (id) => `#/experiments/${enc(id)}`, (id) => names.has(id) ? `${names.get(id)} (${id})` : `Experiment ${id}`)),
      section('Registered models', grantTable('registered_model', user.registered_model_permissions || [], 'Model',
        (id) => `#/models/${enc(id)}`, (id) => id)));
  }
  load();
  return null;
}

/** `#/account`: who you are, your password, your personal access tokens. */
export async function renderAccount(view) {
  document.title = 'Your account · Weir';
  const s = await gate(view, 'Your account', { admin: false });
  if (!s) return null;
  const me = s.user.username;
  const tokens = h('div');
  const fresh = h('div', { class: 'token-fresh', role: 'status', hidden: true });
  const newToken = h('button', { type: 'button', class: 'btn primary', onclick: () => formDialog({
    title: 'New personal access token', submitLabel: 'Create',
    fields: [{ name: 'name', label: 'What it is for' }, { name: 'expires_in_days', label: 'Expires after (days; empty: never)', required: false }],
    onSubmit: async (v) => {
      const days = v.expires_in_days.trim();
      const r = await weir('POST', 'users/tokens/create', { name: v.name.trim(), ...(days ? { expires_in_days: Number(days) } : {}) });
      fresh.replaceChildren(h('strong', null, 'Copy this token now: it is shown only once. '),
        h('code', { class: 'wrap token-value' }, r.token),
        h('p', { class: 'muted small' }, 'Use it as MLFLOW_TRACKING_TOKEN, or in an "Authorization: Bearer" header.'));
      fresh.hidden = false;
      loadTokens();
    },
  }) }, 'New token');
  view.replaceChildren(
    pageHeader(null, 'Your account', h('button', { type: 'button', class: 'btn', onclick: () => passwordDialog(me, true) }, 'Change password')),
    h('p', null, 'Signed in as ', h('strong', null, me), s.user.is_admin ? [' ', chip('admin', 'alias')] : null),
    section('Personal access tokens', h('div', { class: 'toolbar' }, newToken), fresh, tokens));

  async function loadTokens() {
    tokens.replaceChildren(loading('Loading tokens…'));
    let list;
    try {
      list = (await weir('GET', 'users/tokens/list')).tokens || [];
    } catch (e) {
      tokens.replaceChildren(errorBox(e, 'Could not load your tokens'));
      return;
    }
    if (!list.length) {
      tokens.replaceChildren(empty('No tokens. A token lets scripts sign in without your password.'));
      return;
    }
    const state = (t) => t.revoked_at ? chip('revoked', 'served-failed')
      : t.expires_at && t.expires_at < Date.now() ? chip('expired', 'served-failed') : chip('active', 'served-ready');
    tokens.replaceChildren(h('table', { class: 'data compact tokens-table' },
      h('thead', null, h('tr', null, ['Name', 'Created', 'Expires', 'State', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, list.map((t) => h('tr', { 'data-token': t.id },
        h('td', null, t.name),
        h('td', null, formatTime(t.created_at)),
        h('td', null, t.expires_at ? formatTime(t.expires_at) : 'never'),
        h('td', null, state(t)),
        h('td', { class: 'actions' }, t.revoked_at ? null : h('button', { type: 'button', class: 'btn small danger', onclick: async () => {
          try { await weir('POST', 'users/tokens/revoke', { token_id: t.id }); loadTokens(); } catch (e) { tokens.prepend(errorBox(e)); }
        } }, 'Revoke')))))));
  }
  loadTokens();
  return null;
}
