// Who is signed in, and what they may do: the UI draws only the actions the server would accept.
// The server still checks every call; this only spares users buttons that would answer 403.
import { weir } from './api.js';

const ORDER = ['DENY', 'NO_PERMISSIONS', 'READ', 'USE', 'EDIT', 'MANAGE'];
/** What each UI action needs, as the server's permission table decides it. */
export const NEEDS = { read: 'READ', use: 'USE', update: 'EDIT', delete: 'MANAGE', manage: 'MANAGE' };

/** Does `permission` allow `need` ('read' | 'use' | 'update' | 'delete' | 'manage')? */
export function allows(permission, need) {
  const have = ORDER.indexOf(permission);
  const want = ORDER.indexOf(NEEDS[need] || need);
  return have >= 0 && want >= 0 && have >= want;
}

let current = null;

/** The session, asked once per page load: {auth: false} or {auth: true, user, default_permission}. */
export function session() {
  if (!current) {
    current = weir('GET', 'session').catch((e) => {
      current = null; // ask again next time
      throw e;
    });
  }
  return current;
}

/** May the caller administer the server (users, grants, webhooks)? True when auth is off. */
export async function isAdmin() {
  const s = await session();
  return !s.auth || !!(s.user && s.user.is_admin);
}

/**
 * The caller's level on each resource: Map(id → permission). `type` is 'experiment' or
 * 'registered_model'. With auth off every level is MANAGE (asked nothing).
 */
export async function permissionsFor(type, ids) {
  const out = new Map();
  const s = await session();
  if (!s.auth || (s.user && s.user.is_admin)) {
    for (const id of ids) out.set(String(id), 'MANAGE');
    return out;
  }
  const unique = [...new Set(ids.map(String))];
  for (let i = 0; i < unique.length; i += 200) { // keeps the query string short
    const r = await weir('GET', 'permissions', { resource_type: type, resource_id: unique.slice(i, i + 200) });
    for (const p of r.permissions || []) out.set(String(p.resource_id), p.permission);
  }
  return out;
}
