// Calls to the REST API under /ajax-api/2.0/. Errors become ApiError with the server's words.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** Query string with repeated keys for arrays; undefined/null/'' values are left out. */
export function toQuery(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => p.append(k, x));
    else p.append(k, v);
  }
  return p.toString();
}

function textOfHtml(s) {
  return s.replace(/<style[\s\S]*?<\/style>/gi, '').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim();
}

async function send(method, url, params) {
  const init = { method, headers: { Accept: 'application/json' } };
  if (method === 'GET') {
    const q = toQuery(params);
    if (q) url += (url.includes('?') ? '&' : '?') + q;
  } else {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(params || {});
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    throw new ApiError(0, 'NETWORK_ERROR', `Could not reach the server (${e.message}).`);
  }
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : {}; } catch { body = null; }
  if (!res.ok) {
    const message = (body && body.message) ||
      `${res.status} ${res.statusText || 'error'}${text && !body ? ': ' + textOfHtml(text).slice(0, 200) : ''}`;
    throw new ApiError(res.status, (body && body.error_code) || `HTTP_${res.status}`, message);
  }
  if (body === null) throw new ApiError(res.status, 'BAD_RESPONSE', 'The server answered with something that is not JSON.');
  return body;
}

/** MLflow API: mlflow('GET', 'experiments/get', {experiment_id}) */
export function mlflow(method, path, params) {
  return send(method, `/ajax-api/2.0/mlflow/${path}`, params);
}

/** MLflow 3's API under /ajax-api/3.0/mlflow/ (the basic-auth app's grants). */
export function mlflow3(method, path, params) {
  return send(method, `/ajax-api/3.0/mlflow/${path}`, params);
}

/** Weir's own endpoints under /ajax-api/2.0/weir/. */
export function weir(method, path, params) {
  return send(method, `/ajax-api/2.0/weir/${path}`, params);
}

/** URL of a run's artifact file (MLflow's UI helper). */
export function runArtifactUrl(runId, path) {
  return `/get-artifact?${toQuery({ path, run_uuid: runId })}`;
}

/** URL of a model version's artifact file. */
export function modelVersionArtifactUrl(name, version, path) {
  return `/model-versions/get-artifact?${toQuery({ path, name, version })}`;
}

/** Fetch a text file; throws ApiError on failure. */
export async function fetchText(url, limit = 1 << 20) {
  const res = await fetch(url);
  if (!res.ok) {
    const t = await res.text();
    let msg = `${res.status} ${res.statusText}`;
    try { msg = JSON.parse(t).message || msg; } catch { /* not JSON */ }
    throw new ApiError(res.status, `HTTP_${res.status}`, msg);
  }
  const buf = await res.arrayBuffer();
  const truncated = buf.byteLength > limit;
  const text = new TextDecoder().decode(truncated ? buf.slice(0, limit) : buf);
  return { text, truncated, size: buf.byteLength, type: res.headers.get('content-type') || '' };
}

/** Served models: [] when the server serves none or doesn't know the endpoint (404). */
export async function servedModels() {
  try {
    const body = await weir('GET', 'served-models');
    return body.models || [];
  } catch (e) {
    if (e.status === 404) return [];
    throw e;
  }
}
