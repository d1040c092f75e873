// The UI of a server with users and permissions (`weir server --app-name basic-auth`) in headless
// Chromium: who is signed in, only the actions the user may take, the admin page for users and
// grants, and one's own tokens. scripts/run-ui-tests.sh starts that server at UI_AUTH_URL with
// the admin password in UI_AUTH_PASSWORD.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, shot } from './helpers.mjs';

const AUTH = (process.env.UI_AUTH_URL || '').replace(/\/$/, '');
const ADMIN = { username: 'admin', password: process.env.UI_AUTH_PASSWORD || '' };
const ALICE = { username: 'alice', password: 'alice-password-123' };
const BOB = { username: 'bob', password: 'bob-password-12345' };
if (!AUTH || !ADMIN.password) throw new Error('set UI_AUTH_URL and UI_AUTH_PASSWORD (scripts/run-ui-tests.sh does)');

/** The REST API as `who`; throws with the status on errors. */
async function call(who, method, p, body) {
  const headers = { Authorization: 'Basic ' + Buffer.from(`${who.username}:${who.password}`).toString('base64') };
  let url = `${AUTH}${p.startsWith('/') ? p : `/api/2.0/mlflow/${p}`}`;
  const init = { method, headers };
  if (method === 'GET') url += '?' + new URLSearchParams(body || {});
  else { headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(body || {}); }
  const res = await fetch(url, init);
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw Object.assign(new Error(`${method} ${p}: ${res.status} ${JSON.stringify(json)}`), { status: res.status });
  return json;
}

let adminB, aliceB, shared, own;
const unexpected = (b) => b.failed.filter((f) => f.status !== 401 && !f.path.endsWith('/served-models'));

before(async () => {
  await call(ADMIN, 'POST', 'users/create', ALICE);
  await call(ADMIN, 'POST', 'users/create', BOB);
  shared = (await call(ADMIN, 'POST', 'experiments/create', { name: 'team-shared' })).experiment_id;
  own = (await call(ALICE, 'POST', 'experiments/create', { name: 'alice-own' })).experiment_id;
  await call(ADMIN, 'POST', 'registered-models/create', { name: 'guarded-model' });
  adminB = await launch({ httpCredentials: ADMIN });
  aliceB = await launch({ httpCredentials: ALICE });
});

after(async () => {
  if (adminB) await adminB.close();
  if (aliceB) await aliceB.close();
});

const expRow = (page, name) => page.locator('table.experiments tbody tr', { hasText: name });

test('the top bar shows who is signed in; admins get the admin page', async () => {
  const page = adminB.page;
  await page.goto(`${AUTH}/#/`);
  await page.locator('.whoami', { hasText: 'admin' }).waitFor();
  await page.getByRole('link', { name: 'Admin', exact: true }).click();
  await page.getByRole('heading', { name: 'Users and permissions' }).waitFor();
  for (const u of ['admin', 'alice', 'bob']) await page.locator(`tr[data-user="${u}"]`).waitFor();
  // No one may delete themself or drop their own admin rights here.
  const me = page.locator('tr[data-user="admin"]');
  assert.equal(await me.getByRole('button', { name: 'Delete' }).count(), 0);
  assert.equal(await me.getByRole('button', { name: 'Remove admin' }).count(), 0);
  await shot(page, 'admin-users');
});

test('an admin creates a user and grants, changes and revokes permissions in the page', async () => {
  const page = adminB.page;
  await page.goto(`${AUTH}/#/admin`);
  await page.getByRole('button', { name: 'Create user' }).click();
  const dlg = page.locator('dialog');
  await dlg.getByLabel('Username').fill('carol');
  await dlg.getByLabel(/^Password/).fill('short');
  await dlg.getByRole('button', { name: 'Create' }).click();
  await dlg.locator('.dialog-error').waitFor({ state: 'visible' }); // the server's password rule
  await dlg.getByLabel(/^Password/).fill('carol-password-1234');
  await dlg.getByRole('button', { name: 'Create' }).click();
  await page.locator('tr[data-user="carol"]').waitFor();
  assert.equal((await call(ADMIN, 'GET', 'users/get', { username: 'carol' })).user.username, 'carol');

  await page.locator('tr[data-user="alice"]').getByRole('link', { name: 'alice' }).click();
  await page.getByRole('heading', { name: 'alice', exact: true }).waitFor();
  // Alice created alice-own, so she manages it.
  const ownRow = page.locator(`.grants-experiment tr[data-resource="${own}"]`);
  await ownRow.waitFor();
  assert.equal(await ownRow.locator('select').inputValue(), 'MANAGE');
  assert.match(await ownRow.textContent(), /alice-own/);

  await page.getByRole('button', { name: 'Grant permission' }).click();
  await dlg.locator('select[name=resource_type]').selectOption('experiment');
  await dlg.getByLabel('Experiment ID or model name').fill(String(shared));
  await dlg.locator('select[name=permission]').selectOption('EDIT');
  await dlg.getByRole('button', { name: 'Grant' }).click();
  const sharedRow = page.locator(`.grants-experiment tr[data-resource="${shared}"]`);
  await sharedRow.waitFor();
  assert.equal(await sharedRow.locator('select').inputValue(), 'EDIT');
  const grant = async () => (await call(ADMIN, 'GET', '/api/3.0/mlflow/users/permissions/get',
    { username: 'alice', resource_type: 'experiment', resource_id: shared })).permission;
  assert.equal(await grant(), 'EDIT');

  await page.getByRole('button', { name: 'Grant permission' }).click();
  await dlg.locator('select[name=resource_type]').selectOption('registered_model');
  await dlg.getByLabel('Experiment ID or model name').fill('guarded-model');
  await dlg.locator('select[name=permission]').selectOption('READ');
  await dlg.getByRole('button', { name: 'Grant' }).click();
  await page.locator('.grants-registered_model tr[data-resource="guarded-model"]').waitFor();
  await shot(page, 'admin-user-grants', { docs: 'admin-user-grants.png' });

  // Changing the level in place, then revoking.
  await sharedRow.locator('select').selectOption('READ');
  for (let i = 0; i < 50 && (await grant()) !== 'READ'; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(await grant(), 'READ');
  await page.locator(`.grants-experiment tr[data-resource="${shared}"] select`).waitFor();
  await page.locator(`.grants-experiment tr[data-resource="${shared}"]`).getByRole('button', { name: 'Revoke' }).click();
  await page.locator(`.grants-experiment tr[data-resource="${shared}"]`).waitFor({ state: 'detached' });
  const alice = (await call(ADMIN, 'GET', 'users/get', { username: 'alice' })).user;
  assert.deepEqual(alice.experiment_permissions.map((g) => String(g.experiment_id)), [String(own)]);
  assert.deepEqual(unexpected(adminB).filter((f) => f.status !== 400), []); // 400: the short password
});

test('a user sees only the actions their permissions allow', async () => {
  const page = aliceB.page;
  await page.goto(`${AUTH}/#/`);
  await page.locator('.whoami', { hasText: 'alice' }).waitFor();
  assert.equal(await page.getByRole('link', { name: 'Admin', exact: true }).count(), 0);
  await expRow(page, 'alice-own').waitFor();
  // Her own experiment: MANAGE. The shared one: the default, READ.
  assert.equal(await expRow(page, 'alice-own').getByRole('button', { name: 'Rename' }).count(), 1);
  assert.equal(await expRow(page, 'alice-own').getByRole('button', { name: 'Delete' }).count(), 1);
  assert.equal(await expRow(page, 'team-shared').getByRole('button').count(), 0);
  assert.match(await expRow(page, 'team-shared').textContent(), /read only/);
  await shot(page, 'user-experiments');

  // EDIT allows renaming, not deleting.
  await call(ADMIN, 'POST', '/api/3.0/mlflow/users/permissions/grant',
    { username: 'alice', resource_type: 'experiment', resource_id: shared, permission: 'EDIT' });
  await page.reload();
  await expRow(page, 'team-shared').getByRole('button', { name: 'Rename' }).waitFor();
  assert.equal(await expRow(page, 'team-shared').getByRole('button', { name: 'Delete' }).count(), 0);
  await expRow(page, 'team-shared').getByRole('button', { name: 'Rename' }).click();
  await page.locator('dialog').getByLabel('New name').fill('team-shared-renamed');
  await page.locator('dialog').getByRole('button', { name: 'Rename' }).click();
  await expRow(page, 'team-shared-renamed').waitFor();
  assert.equal((await call(ADMIN, 'GET', 'experiments/get', { experiment_id: shared })).experiment.name, 'team-shared-renamed');

  // The admin page says why it is empty; the registry page has no webhooks panel for her.
  await page.goto(`${AUTH}/#/admin`);
  await page.getByText('Only admins manage users and permissions. You are signed in as alice.').waitFor();
  await page.goto(`${AUTH}/#/models/guarded-model`);
  await page.getByRole('heading', { name: /^Versions/ }).waitFor();
  assert.equal(await page.getByRole('heading', { name: 'Webhooks' }).count(), 0);
  assert.deepEqual(unexpected(aliceB), []);
  assert.deepEqual(aliceB.errors, []);
});

test('the account page: personal access tokens made, used and revoked', async () => {
  const page = aliceB.page;
  await page.locator('.whoami').click();
  await page.getByRole('heading', { name: 'Your account' }).waitFor();
  await page.getByRole('button', { name: 'New token' }).click();
  await page.locator('dialog').getByLabel('What it is for').fill('ci-job');
  await page.locator('dialog').getByRole('button', { name: 'Create' }).click();
  const token = (await page.locator('.token-value').textContent()).trim();
  assert.match(token, /^weir_pat_/);
  const me = await fetch(`${AUTH}/api/2.0/mlflow/users/current`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(me.status, 200);
  assert.equal((await me.json()).user.username, 'alice');
  const row = page.locator('.tokens-table tbody tr', { hasText: 'ci-job' });
  await row.getByText('active').waitFor();
  await shot(page, 'account-tokens');
  await row.getByRole('button', { name: 'Revoke' }).click();
  await row.getByText('revoked').waitFor();
  const again = await fetch(`${AUTH}/api/2.0/mlflow/users/current`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(again.status, 401);
});

test('an admin makes a user admin, then deletes them', async () => {
  const page = adminB.page;
  await page.goto(`${AUTH}/#/admin`);
  const bob = page.locator('tr[data-user="bob"]');
  await bob.getByRole('button', { name: 'Make admin' }).click();
  await bob.getByRole('button', { name: 'Remove admin' }).waitFor();
  assert.equal((await call(ADMIN, 'GET', 'users/get', { username: 'bob' })).user.is_admin, true);
  await bob.getByRole('button', { name: 'Delete' }).click();
  await page.locator('dialog').getByRole('button', { name: 'Delete' }).click();
  await bob.waitFor({ state: 'detached' });
  await assert.rejects(call(ADMIN, 'GET', 'users/get', { username: 'bob' }), (e) => e.status === 404);
  assert.deepEqual(adminB.errors, []);
});
