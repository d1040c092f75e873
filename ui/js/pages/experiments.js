// Experiments list: search by name, create, rename, delete and restore.
import { h, loading, errorBox, empty, pageHeader, formDialog } from '../dom.js';
import { mlflow } from '../api.js';
import { allows, permissionsFor } from '../session.js';
import { formatTime } from '../lib/format.js';
import { buildQuery, quoteString } from '../lib/filter.js';

export async function render(view, _params, query) {
  document.title = 'Experiments · Weir';
  const state = { q: query.q || '', view: query.view || 'ACTIVE_ONLY' };
  const input = h('input', { type: 'search', name: 'q', value: state.q, placeholder: 'Search experiments by name', 'aria-label': 'Search experiments by name', autocomplete: 'off' });
  const viewSel = h('select', { 'aria-label': 'Which experiments' },
    [['ACTIVE_ONLY', 'Active'], ['DELETED_ONLY', 'Deleted'], ['ALL', 'All']].map(([v, l]) => h('option', { value: v, selected: v === state.view }, l)));
  const form = h('form', { class: 'filter-form', role: 'search' }, input, h('button', { type: 'submit', class: 'btn' }, 'Search'));
  const body = h('div', { class: 'list-body' });
  const go = (change) => {
    const q = { q: state.q, view: state.view, ...change };
    if (q.view === 'ACTIVE_ONLY') delete q.view;
    location.hash = `#/${buildQuery(q)}`;
  };
  form.addEventListener('submit', (e) => { e.preventDefault(); go({ q: input.value.trim() }); });
  viewSel.addEventListener('change', () => go({ view: viewSel.value }));
  const createBtn = h('button', { type: 'button', class: 'btn primary', onclick: () => formDialog({
    title: 'Create experiment', fields: [{ name: 'name', label: 'Name' }], submitLabel: 'Create',
    onSubmit: async ({ name }) => {
      const r = await mlflow('POST', 'experiments/create', { name: name.trim() });
      location.hash = `#/experiments/${r.experiment_id}`;
    },
  }) }, 'Create experiment');

  view.replaceChildren(pageHeader(null, 'Experiments', createBtn), h('div', { class: 'toolbar' }, form, viewSel), body);

  let gen = 0; // only the latest load may draw (a restore and a view change can overlap)
  async function load() {
    const mine = ++gen;
    body.replaceChildren(loading('Loading experiments…'));
    const exps = [];
    try {
      let token;
      do {
        const r = await mlflow('POST', 'experiments/search', {
          max_results: 1000, view_type: state.view, order_by: ['last_update_time DESC'],
          filter: state.q ? `name ILIKE ${quoteString(`%${state.q}%`)}` : undefined, page_token: token,
        });
        exps.push(...(r.experiments || []));
        token = r.next_page_token;
      } while (token && exps.length < 10000);
    } catch (e) {
      if (mine === gen) body.replaceChildren(errorBox(e, 'Could not load experiments'));
      return;
    }
    // Only the actions the caller's level allows (rename: EDIT; delete and restore: MANAGE).
    let levels;
    try {
      levels = await permissionsFor('experiment', exps.map((x) => x.experiment_id));
    } catch (e) {
      if (mine === gen) body.replaceChildren(errorBox(e, 'Could not load your permissions'));
      return;
    }
    if (mine !== gen) return;
    if (!exps.length) {
      body.replaceChildren(empty(state.q ? `No experiment's name contains “${state.q}”.` : 'No experiments yet. Create one, or log a run with the mlflow client.'));
      return;
    }
    const row = (x) => {
      const deleted = x.lifecycle_stage === 'deleted';
      const level = levels.get(String(x.experiment_id));
      const mayEdit = allows(level, 'update');
      const mayDelete = allows(level, 'delete');
      const actions = deleted
        ? [mayDelete && h('button', { type: 'button', class: 'btn small', onclick: () => act(() => mlflow('POST', 'experiments/restore', { experiment_id: x.experiment_id })) }, 'Restore')]
        : [mayEdit && h('button', { type: 'button', class: 'btn small', onclick: () => formDialog({
            title: 'Rename experiment', fields: [{ name: 'name', label: 'New name', value: x.name }], submitLabel: 'Rename',
            onSubmit: async ({ name }) => { await mlflow('POST', 'experiments/update', { experiment_id: x.experiment_id, new_name: name.trim() }); load(); },
          }) }, 'Rename'),
          mayDelete && h('button', { type: 'button', class: 'btn small danger', onclick: () => formDialog({
            title: 'Delete experiment', message: `Delete “${x.name}” and hide its runs? You can restore it later from the Deleted list.`,
            submitLabel: 'Delete', danger: true,
            onSubmit: async () => { await mlflow('POST', 'experiments/delete', { experiment_id: x.experiment_id }); load(); },
          }) }, 'Delete')];
      return h('tr', { class: deleted ? 'deleted' : '' },
        h('td', null, deleted ? h('span', null, x.name, ' ', h('span', { class: 'chip muted' }, 'deleted')) : h('a', { href: `#/experiments/${x.experiment_id}` }, x.name)),
        h('td', { class: 'num' }, x.experiment_id),
        h('td', null, formatTime(x.creation_time)),
        h('td', null, formatTime(x.last_update_time)),
        h('td', { class: 'actions' }, actions.some(Boolean) ? actions : h('span', { class: 'muted small', title: `Your permission here: ${level || 'unknown'}` }, level === 'READ' ? 'read only' : '')));
    };
    body.replaceChildren(h('table', { class: 'data experiments' },
      h('thead', null, h('tr', null, ['Name', 'ID', 'Created', 'Last modified', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, exps.map(row))));
  }
  async function act(fn) {
    try { await fn(); load(); } catch (e) { body.prepend(errorBox(e)); }
  }
  load();
  return {
    update(q) { state.q = q.q || ''; state.view = q.view || 'ACTIVE_ONLY'; input.value = state.q; viewSel.value = state.view; load(); },
  };
}
