// Helpers for the runs search box, sort order and column keys. Pure, unit-tested.

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_.]*$/;

/** A key as the search grammar wants it: bare when simple, else in backquotes. */
export function quoteKey(key) {
  return PLAIN_KEY.test(key) ? key : '`' + String(key).replace(/`/g, '') + '`';
}

/** A string literal for the search grammar, in single quotes. */
export function quoteString(value) {
  return "'" + String(value).replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'";
}

/** Column id ("metrics.accuracy", "params.max_depth", "tags.team", "attributes.start_time"). */
export function columnId(kind, key) {
  return `${kind}.${key}`;
}

/** Split a column id into {kind, key}; the key may itself contain dots. */
export function parseColumnId(id) {
  const i = id.indexOf('.');
  if (i < 0) return { kind: 'attributes', key: id };
  return { kind: id.slice(0, i), key: id.slice(i + 1) };
}

const SERVER_ATTRS = new Set(['start_time', 'end_time', 'status', 'run_name', 'run_id', 'user_id', 'artifact_uri', 'lifecycle_stage']);

/** The order_by clause for a column id, or null when the server can't sort by it. */
export function orderByFor(id, ascending) {
  const { kind, key } = parseColumnId(id);
  const dir = ascending ? 'ASC' : 'DESC';
  if (kind === 'metrics' || kind === 'params' || kind === 'tags') return `${kind}.${quoteKey(key)} ${dir}`;
  if (kind === 'attributes' && SERVER_ATTRS.has(key)) return `attributes.${key} ${dir}`;
  return null;
}

/** "metrics.accuracy:desc" <-> {id, ascending} for the URL. */
export function parseSort(s, fallback = { id: 'attributes.start_time', ascending: false }) {
  if (!s) return { ...fallback };
  const i = s.lastIndexOf(':');
  if (i < 0) return { id: s, ascending: true };
  return { id: s.slice(0, i), ascending: s.slice(i + 1).toLowerCase() !== 'desc' };
}
export function formatSort({ id, ascending }) {
  return `${id}:${ascending ? 'asc' : 'desc'}`;
}

/** A filter clause that selects runs whose column equals this value (for "filter by this"). */
export function clauseFor(id, value) {
  const { kind, key } = parseColumnId(id);
  if (kind === 'metrics') return `metrics.${quoteKey(key)} = ${Number(value)}`;
  return `${kind}.${quoteKey(key)} = ${quoteString(value)}`;
}

/** Add a clause to a filter with AND. */
export function andClause(filter, clause) {
  const f = (filter || '').trim();
  return f ? `${f} and ${clause}` : clause;
}

/**
 * Suggestions for the word being typed at `caret`: column keys that start with it
 * ("metrics.acc" -> "metrics.accuracy"). Returns {start, end, items}.
 */
export function suggest(text, caret, keys, limit = 8) {
  let start = caret;
  while (start > 0 && /[A-Za-z0-9_.`-]/.test(text[start - 1])) start--;
  const word = text.slice(start, caret).replace(/`/g, '').toLowerCase();
  if (!word) return { start, end: caret, items: [] };
  const items = [];
  for (const k of keys) {
    if (k.toLowerCase().startsWith(word) && k.toLowerCase() !== word) items.push(k);
    if (items.length >= limit) break;
  }
  return { start, end: caret, items };
}

/** Columns (ids) picked by default: metrics first, then params, at most `max`. */
export function defaultColumns(metricKeys, paramKeys, max = 20) {
  const ids = [...metricKeys.map((k) => `metrics.${k}`), ...paramKeys.map((k) => `params.${k}`)];
  return ids.slice(0, max);
}

/** Parse "a=1&b=x%20y" into a plain object (last value wins) and back. */
export function parseQuery(q) {
  const out = {};
  for (const [k, v] of new URLSearchParams(q || '')) out[k] = v;
  return out;
}
export function buildQuery(obj) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(obj)) if (v !== undefined && v !== null && v !== '') p.set(k, v);
  // ':' and ',' are fine in a query string and keep links readable (sort=metrics.x:desc).
  const s = p.toString().replace(/%3A/gi, ':').replace(/%2C/gi, ',');
  return s ? '?' + s : '';
}
