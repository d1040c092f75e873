// Model registry: registered models, one model's versions, one version, and what is served.
import { h, loading, errorBox, empty, pageHeader, kvTable, section, chip } from '../dom.js';
import { mlflow, weir, modelVersionArtifactUrl, servedModels } from '../api.js';
import { isAdmin } from '../session.js';
import { artifactBrowser } from '../artifacts.js';
import { formatTime } from '../lib/format.js';
import { buildQuery, quoteString } from '../lib/filter.js';

const enc = encodeURIComponent;
const modelHref = (name) => `#/models/${enc(name)}`;
const versionHref = (name, v) => `#/models/${enc(name)}/versions/${enc(v)}`;
const runHref = (runId) => `#/runs/${runId}`;

function stageChip(stage) {
  if (!stage || stage === 'None') return h('span', { class: 'muted' }, 'None');
  return chip(stage, `stage-${stage.toLowerCase()}`);
}
function aliasChips(aliases, name, withVersion = true) {
  if (!aliases.length) return h('span', { class: 'muted' }, '—');
  return h('span', { class: 'chips' }, aliases.map((a) => h('a', { class: 'chip alias', href: versionHref(name, a.version), title: `@${a.alias} → version ${a.version}` },
    `@${a.alias}`, withVersion ? h('span', { class: 'muted' }, ` v${a.version}`) : null)));
}
function tagChips(tags) {
  if (!tags || !tags.length) return h('span', { class: 'muted' }, '—');
  return h('span', { class: 'chips' }, tags.map((t) => chip(`${t.key}: ${t.value}`, 'tag')));
}

/** The "Served models" panel; `filterName` limits it to one model. */
function servedPanel(filterName) {
  const box = h('div', { class: 'served' }, loading('Checking served models…'));
  servedModels().then((models) => {
    const list = filterName ? models.filter((m) => m.name === filterName) : models;
    if (!list.length) {
      box.replaceChildren(h('p', { class: 'muted served-none' }, filterName ? 'This server is not serving this model.' : 'This server is not serving any models.'));
      return;
    }
    box.replaceChildren(h('table', { class: 'data compact served-table' },
      h('thead', null, h('tr', null, ['Model', 'Version', 'URI', 'Status', 'Backend', 'Message'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, list.map((m) => h('tr', null,
        h('td', null, h('a', { href: modelHref(m.name) }, m.name)),
        h('td', null, m.version ? h('a', { href: versionHref(m.name, m.version) }, `v${m.version}`) : '—'),
        h('td', null, h('code', null, m.model_uri || '')),
        h('td', null, chip(m.status || 'UNKNOWN', `served-${(m.status || '').toLowerCase()}`)),
        h('td', null, m.backend || ''),
        h('td', { class: 'muted' }, m.message || ''))))));
  }).catch((e) => box.replaceChildren(errorBox(e, 'Could not ask what is served')));
  return box;
}

const eventLabel = (e) => `${String(e.entity).toLowerCase()}.${String(e.action).toLowerCase()}`;

/** The registry's webhooks (they fire for every model) and this model's recent deliveries. */
function webhooksPanel(name) {
  const box = h('div', { class: 'webhooks' }, loading('Loading webhooks…'));
  Promise.all([
    mlflow('GET', 'webhooks', { max_results: 100 }),
    weir('GET', 'webhooks/deliveries', { name, max_results: 20 }),
  ]).then(([hooks, log]) => {
    const list = hooks.webhooks || [];
    const deliveries = log.deliveries || [];
    const parts = [];
    parts.push(list.length ? h('table', { class: 'data compact webhooks-table' },
      h('thead', null, h('tr', null, ['Webhook', 'URL', 'Events', 'Status'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, list.map((w) => h('tr', { 'data-webhook': w.webhook_id },
        h('td', null, w.name, w.description ? h('div', { class: 'muted small' }, w.description) : null),
        h('td', null, h('code', { class: 'wrap' }, w.url)),
        h('td', null, h('span', { class: 'chips' }, (w.events || []).map((e) => chip(eventLabel(e), 'tag')))),
        h('td', null, chip(w.status, w.status === 'ACTIVE' ? 'served-ready' : 'served-failed'))))))
      : h('p', { class: 'muted' }, 'No webhooks. Create one with MlflowClient().create_webhook(…).'));
    parts.push(h('h3', { class: 'small' }, 'Recent deliveries for this model'));
    parts.push(deliveries.length ? h('table', { class: 'data compact deliveries-table' },
      h('thead', null, h('tr', null, ['Event', 'Webhook', 'State', 'Attempts', 'Last answer', 'Queued'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, deliveries.map((d) => h('tr', { 'data-delivery': d.delivery_id },
        h('td', null, d.event),
        h('td', null, d.webhook_name),
        h('td', null, chip(d.state, d.state === 'delivered' ? 'served-ready' : d.state === 'failed' ? 'served-failed' : 'served-loading')),
        h('td', null, String(d.attempts)),
        h('td', { class: 'muted' }, d.last_error || (d.last_status ? `HTTP ${d.last_status}` : '—')),
        h('td', null, formatTime(d.created_at))))))
      : h('p', { class: 'muted' }, 'No deliveries for this model yet.'));
    box.replaceChildren(...parts);
  }).catch((e) => {
    if (e.status === 403) box.replaceChildren(h('p', { class: 'muted' }, 'Only admins see webhooks.'));
    else box.replaceChildren(errorBox(e, 'Could not load webhooks'));
  });
  return box;
}

export async function renderList(view, _params, query) {
  document.title = 'Models · Weir';
  const q = query.q || '';
  const input = h('input', { type: 'search', value: q, placeholder: 'Search models by name', 'aria-label': 'Search models by name', autocomplete: 'off' });
  const form = h('form', { class: 'filter-form', role: 'search' }, input, h('button', { type: 'submit', class: 'btn' }, 'Search'));
  form.addEventListener('submit', (e) => { e.preventDefault(); location.hash = `#/models${buildQuery({ q: input.value.trim() })}`; });
  const body = h('div', null, loading('Loading models…'));
  view.replaceChildren(pageHeader(null, 'Registered models'), h('div', { class: 'toolbar' }, form), body, section('Served models', servedPanel(null)));

  const models = [];
  try {
    let token;
    do {
      const r = await mlflow('GET', 'registered-models/search', {
        filter: q ? `name ILIKE ${quoteString(`%${q}%`)}` : undefined, max_results: 1000, order_by: ['name ASC'], page_token: token,
      });
      models.push(...(r.registered_models || []));
      token = r.next_page_token;
    } while (token && models.length < 10000);
  } catch (e) {
    body.replaceChildren(errorBox(e, 'Could not load models'));
    return null;
  }
  if (!models.length) {
    body.replaceChildren(empty(q ? `No model's name contains “${q}”.` : 'No registered models yet. Register one with mlflow.register_model or log_model(registered_model_name=…).'));
    return null;
  }
  body.replaceChildren(h('table', { class: 'data models-table' },
    h('thead', null, h('tr', null, ['Name', 'Latest version', 'Aliases', 'Stages', 'Last modified', 'Tags'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', null, models.map((m) => {
      const lv = m.latest_versions || [];
      const latest = lv.reduce((a, v) => (Number(v.version) > Number(a?.version || 0) ? v : a), null);
      return h('tr', null,
        h('td', null, h('a', { href: modelHref(m.name) }, m.name), m.description ? h('div', { class: 'muted small' }, m.description) : null),
        h('td', null, latest ? h('a', { href: versionHref(m.name, latest.version) }, `Version ${latest.version}`) : '—'),
        h('td', null, aliasChips(m.aliases || [], m.name)),
        h('td', null, lv.filter((v) => v.current_stage && v.current_stage !== 'None').length
          ? h('span', { class: 'chips' }, lv.filter((v) => v.current_stage !== 'None').map((v) => h('a', { href: versionHref(m.name, v.version), class: `chip stage-${v.current_stage.toLowerCase()}` }, `${v.current_stage}: v${v.version}`)))
          : h('span', { class: 'muted' }, '—')),
        h('td', null, formatTime(m.last_updated_timestamp)),
        h('td', null, tagChips(m.tags)));
    }))));
  return null;
}

export async function renderModel(view, { name }) {
  name = decodeURIComponent(name);
  document.title = `${name} · Models · Weir`;
  view.append(loading('Loading model…'));
  let model, versions;
  try {
    [model, versions] = await Promise.all([
      mlflow('GET', 'registered-models/get', { name }).then((r) => r.registered_model),
      mlflow('GET', 'model-versions/search', { filter: `name = ${quoteString(name)}`, max_results: 10000 }).then((r) => r.model_versions || []),
    ]);
  } catch (e) {
    view.replaceChildren(pageHeader([['Models', '#/models']], name), errorBox(e, 'Could not load the model'));
    return null;
  }
  versions.sort((a, b) => Number(b.version) - Number(a.version));
  const aliases = model.aliases || [];
  const aliasesOf = (v) => aliases.filter((a) => String(a.version) === String(v)).map((a) => a);
  const servedCell = new Map();
  const table = versions.length ? h('table', { class: 'data versions-table' },
    h('thead', null, h('tr', null, ['Version', 'Registered', 'Stage', 'Aliases', 'Tags', 'Source run', 'Status', 'Served'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', null, versions.map((v) => {
      const served = h('td', { class: 'muted' }, '—');
      servedCell.set(String(v.version), served);
      return h('tr', { 'data-version': v.version },
        h('td', null, h('a', { href: versionHref(name, v.version) }, `Version ${v.version}`)),
        h('td', null, formatTime(v.creation_timestamp)),
        h('td', null, stageChip(v.current_stage)),
        h('td', null, aliasChips(aliasesOf(v.version), name, false)),
        h('td', null, tagChips(v.tags)),
        h('td', null, v.run_id ? h('a', { href: runHref(v.run_id), class: 'mono' }, v.run_id.slice(0, 12) + '…') : '—'),
        h('td', null, v.status || ''),
        served);
    }))) : empty('This model has no versions yet.');

  view.replaceChildren(
    pageHeader([['Models', '#/models'], [name, null]], name),
    h('div', { class: 'grid-2' },
      section('Details', kvTable([
        ['Description', model.description || h('span', { class: 'muted' }, 'No description')],
        ['Created', formatTime(model.creation_timestamp)],
        ['Last modified', formatTime(model.last_updated_timestamp)],
        ['Aliases', aliasChips(aliases, name)],
        ['Tags', tagChips(model.tags)],
      ])),
      section('Served', servedPanel(name))),
    section(`Versions (${versions.length})`, h('div', { class: 'scroll-x' }, table)),
  );
  // Webhooks are the admins' (they reach outside the cluster), as in MLflow.
  isAdmin().then((yes) => { if (yes) view.append(section('Webhooks', webhooksPanel(name))); }).catch(() => {});
  servedModels().then((list) => {
    for (const m of list.filter((x) => x.name === name)) {
      const td = servedCell.get(String(m.version));
      if (td) { td.className = ''; td.replaceChildren(chip(m.status || 'UNKNOWN', `served-${(m.status || '').toLowerCase()}`)); }
    }
  }).catch(() => {});
  return null;
}

/** How to list a model version's files, from its source URI. */
export function versionFilesSource(v) {
  const src = v.source || '';
  let m = /^models:\/(m-[0-9a-f]+)\/?$/.exec(src);
  if (m) return { kind: 'logged-model', modelId: m[1] };
  m = /^runs:\/([^/]+)\/?(.*)$/.exec(src);
  if (m) return { kind: 'run', runId: m[1], path: m[2].replace(/\/$/, '') };
  m = /\/([0-9a-f]{32})\/artifacts\/?(.*)$/.exec(src);
  if (m) return { kind: 'run', runId: m[1], path: m[2].replace(/\/$/, '') };
  return null;
}

export async function renderVersion(view, { name, version }) {
  name = decodeURIComponent(name);
  version = decodeURIComponent(version);
  document.title = `${name} v${version} · Weir`;
  view.append(loading('Loading model version…'));
  let v, model;
  try {
    [v, model] = await Promise.all([
      mlflow('GET', 'model-versions/get', { name, version }).then((r) => r.model_version),
      mlflow('GET', 'registered-models/get', { name }).then((r) => r.registered_model),
    ]);
  } catch (e) {
    view.replaceChildren(pageHeader([['Models', '#/models'], [name, modelHref(name)]], `Version ${version}`), errorBox(e, 'Could not load the model version'));
    return null;
  }
  const aliases = (model.aliases || []).filter((a) => String(a.version) === String(v.version));
  const src = versionFilesSource(v);
  const list = async (path) => {
    if (!src) throw new Error(`Files can't be listed for the source ${v.source}`);
    if (src.kind === 'logged-model') {
      const r = await mlflow('GET', `logged-models/${src.modelId}/artifacts/directories`, { artifact_directory_path: path || undefined });
      return r.files || [];
    }
    const full = [src.path, path].filter(Boolean).join('/');
    const r = await mlflow('GET', 'artifacts/list', { run_id: src.runId, run_uuid: src.runId, path: full || undefined });
    const cut = src.path ? src.path.length + 1 : 0;
    return (r.files || []).map((f) => ({ ...f, path: f.path.slice(cut) }));
  };
  view.replaceChildren(
    pageHeader([['Models', '#/models'], [name, modelHref(name)], [`Version ${v.version}`, null]], `${name} · version ${v.version}`),
    h('div', { class: 'grid-2' },
      section('Details', kvTable([
        ['Stage', stageChip(v.current_stage)],
        ['Aliases', aliasChips(aliases, name, false)],
        ['Status', v.status || ''],
        ['Registered', formatTime(v.creation_timestamp)],
        ['Last modified', formatTime(v.last_updated_timestamp)],
        ['Source', h('code', { class: 'wrap' }, v.source || '')],
        ['Source run', v.run_id ? h('a', { href: runHref(v.run_id), class: 'mono' }, v.run_id) : '—'],
        ['Description', v.description || h('span', { class: 'muted' }, 'No description')],
        ['Tags', tagChips(v.tags)],
        ['Load with', h('code', null, aliases.length ? `models:/${name}@${aliases[0].alias}` : `models:/${name}/${v.version}`)],
      ])),
      section('Served', servedPanel(name))),
    section('Files', artifactBrowser({
      list, fileUrl: (path) => modelVersionArtifactUrl(name, v.version, path), select: 'MLmodel', emptyText: 'No files found for this version.',
    })),
  );
  return null;
}
