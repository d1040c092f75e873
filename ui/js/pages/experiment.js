// One experiment's runs: filter box (the API's grammar), sort by any column, chosen columns,
// virtual-scrolled table with keyboard navigation and selection, compare selected runs.
import { h, loading, errorBox, pageHeader } from '../dom.js';
import { mlflow } from '../api.js';
import { RunsTable } from '../runs-table.js';
import { formatDuration, formatTime, formatValue } from '../lib/format.js';
import { buildQuery, defaultColumns, formatSort, orderByFor, parseColumnId, parseSort, suggest } from '../lib/filter.js';

const FIRST_PAGE = 200;
const PAGE = 1000;
const DEFAULT_SORT = { id: 'attributes.start_time', ascending: false };

export function normalizeRun(run) {
  const i = run.info, d = run.data || {};
  const m = {}, p = {}, t = {};
  for (const x of d.metrics || []) m[x.key] = typeof x.value === 'number' ? x.value : Number(x.value);
  for (const x of d.params || []) p[x.key] = x.value;
  for (const x of d.tags || []) t[x.key] = x.value;
  return {
    id: i.run_id || i.run_uuid, name: i.run_name || t['mlflow.runName'] || i.run_id, exp: i.experiment_id,
    status: i.status, start: i.start_time ? Number(i.start_time) : null, end: i.end_time ? Number(i.end_time) : null,
    user: i.user_id, lifecycle: i.lifecycle_stage, m, p, t,
  };
}

const BASE_COLUMNS = [
  { id: 'attributes.run_name', label: 'Run name', width: 210, get: (r) => r.name, raw: (r) => r.name, sortable: true, link: true, sticky: true, cls: 'name' },
  { id: 'attributes.start_time', label: 'Created', width: 168, get: (r) => formatTime(r.start), raw: (r) => r.start, sortable: true },
  { id: 'duration', label: 'Duration', width: 86, get: (r) => (r.start && r.end ? formatDuration(r.end - r.start) : ''), raw: (r) => (r.start && r.end ? r.end - r.start : null), sortable: true, client: true, cls: 'num' },
  { id: 'attributes.status', label: 'Status', width: 96, get: (r) => r.status || '', raw: (r) => r.status, sortable: true },
];

function dataColumn(id) {
  const { kind, key } = parseColumnId(id);
  if (kind === 'metrics') return { id, group: 'metric', label: key, title: `metrics.${key}`, width: 120, cls: 'num', sortable: true, get: (r) => formatValue(r.m[key]), raw: (r) => r.m[key] };
  if (kind === 'params') return { id, group: 'param', label: key, title: `params.${key}`, width: 120, sortable: true, get: (r) => r.p[key] ?? '', raw: (r) => r.p[key] };
  return { id, group: 'tag', label: key, title: `tags.${key}`, width: 130, sortable: true, get: (r) => r.t[key] ?? '', raw: (r) => r.t[key] };
}

function compareRaw(a, b) {
  if (a === b) return 0;
  if (a === undefined || a === null || a === '') return 1;
  if (b === undefined || b === null || b === '') return -1;
  const na = Number(a), nb = Number(b);
  if (Number.isFinite(na) && Number.isFinite(nb)) return na - nb;
  return String(a).localeCompare(String(b));
}

function searchRequest(expId, filter, sort, viewType, token, size) {
  const ob = orderByFor(sort.id, sort.ascending);
  return mlflow('POST', 'runs/search', {
    experiment_ids: [expId], filter, run_view_type: viewType, max_results: size,
    order_by: ob ? [ob] : [], page_token: token || undefined,
  });
}

export async function render(view, { id: expId }, query) {
  view.append(loading('Loading experiment…'));
  // Ask for the first page of runs while the experiment itself loads.
  const t0 = performance.now();
  let prefetched = searchRequest(expId, query.filter || '', parseSort(query.sort, DEFAULT_SORT), query.view || 'ACTIVE_ONLY', null, FIRST_PAGE);
  prefetched.catch(() => {});
  let exp;
  try {
    exp = (await mlflow('GET', 'experiments/get', { experiment_id: expId })).experiment;
  } catch (e) {
    view.replaceChildren(pageHeader([['Experiments', '#/']], `Experiment ${expId}`), errorBox(e, 'Could not load the experiment'));
    return null;
  }
  document.title = `${exp.name} · Weir`;

  const state = {
    filter: query.filter || '', sort: parseSort(query.sort, DEFAULT_SORT), view: query.view || 'ACTIVE_ONLY',
    rows: [], token: null, gen: 0, loadingMore: null, keys: { metrics: new Set(), params: new Set(), tags: new Set() },
  };
  const colsKey = `weir.columns.${expId}`;
  const selKey = `weir.selected.${expId}`; // kept for this tab, so Back from Compare keeps the choice
  let restoreSelection = JSON.parse(sessionStorage.getItem(selKey) || '[]');
  let chosen = JSON.parse(localStorage.getItem(colsKey) || 'null');

  // --- header, toolbar -----------------------------------------------------------------------
  const filterInput = h('input', {
    type: 'search', class: 'filter-input', name: 'filter', value: state.filter, autocomplete: 'off', spellcheck: 'false',
    placeholder: "metrics.accuracy > 0.97 and params.max_depth = '3'", 'aria-label': 'Filter runs (search syntax)',
  });
  const sugList = h('ul', { class: 'suggest', role: 'listbox', hidden: true });
  const filterError = h('p', { class: 'filter-error', role: 'alert', hidden: true });
  const form = h('form', { class: 'filter-form', role: 'search' },
    h('div', { class: 'filter-wrap' }, filterInput, sugList),
    h('button', { type: 'submit', class: 'btn primary' }, 'Search'),
    h('button', { type: 'button', class: 'btn', onclick: () => { filterInput.value = ''; apply({ filter: '' }); } }, 'Clear'));
  const viewSel = h('select', { 'aria-label': 'Which runs', class: 'view-select' },
    [['ACTIVE_ONLY', 'Active runs'], ['DELETED_ONLY', 'Deleted runs'], ['ALL', 'All runs']].map(([v, l]) => h('option', { value: v, selected: state.view === v }, l)));
  viewSel.addEventListener('change', () => apply({ view: viewSel.value }));
  const status = h('span', { class: 'status-text', 'aria-live': 'polite' });
  const loadAllBtn = h('button', { type: 'button', class: 'btn', hidden: true, onclick: () => loadAll() }, 'Load all');
  const compareBtn = h('button', { type: 'button', class: 'btn primary compare-btn', disabled: true, onclick: () => {
    const ids = [...table.selected];
    location.hash = `#/compare${buildQuery({ runs: ids.join(','), experiment: expId })}`;
  } }, 'Compare');
  const colsPanel = h('div', { class: 'popover-panel' });
  const colsBtn = h('details', { class: 'popover columns-picker' }, h('summary', { class: 'btn' }, 'Columns'), colsPanel);
  colsBtn.addEventListener('toggle', () => { if (colsBtn.open) fillColumnsPanel(); });
  // Close the column picker on a click elsewhere or Escape.
  const closePicker = (e) => {
    if (!view.isConnected) { document.removeEventListener('click', closePicker); document.removeEventListener('keydown', closePicker); return; }
    if (colsBtn.open && (e.type === 'click' ? !colsBtn.contains(e.target) : e.key === 'Escape')) colsBtn.open = false;
  };
  document.addEventListener('click', closePicker);
  document.addEventListener('keydown', closePicker);

  const tableWrap = h('div', { class: 'table-wrap' });
  view.replaceChildren(
    pageHeader([['Experiments', '#/'], [exp.name, null]], exp.name),
    h('p', { class: 'meta muted' }, `ID ${exp.experiment_id}`, exp.artifact_location ? ` · artifacts ${exp.artifact_location}` : '',
      exp.lifecycle_stage === 'deleted' ? ' · deleted' : ''),
    h('div', { class: 'toolbar' }, form, viewSel, colsBtn),
    filterError,
    h('div', { class: 'toolbar small' }, status, loadAllBtn, h('span', { class: 'spacer' }), h('span', { class: 'muted hint' }, '↑↓ move · Space select · Enter open'), compareBtn),
    tableWrap,
  );
  view.classList.add('fill');

  const table = new RunsTable({
    rowHref: (r) => `#/experiments/${r.exp}/runs/${r.id}`,
    onOpen: (r) => { location.hash = `#/experiments/${r.exp}/runs/${r.id}`; },
    onSort: (colId) => {
      const asc = state.sort.id === colId ? !state.sort.ascending : colId === 'attributes.run_name';
      apply({ sort: formatSort({ id: colId, ascending: asc }) });
    },
    onSelect: (ids) => {
      sessionStorage.setItem(selKey, JSON.stringify(ids));
      compareBtn.disabled = ids.length < 2;
      compareBtn.textContent = ids.length ? `Compare (${ids.length})` : 'Compare';
    },
    onNeedMore: () => loadMore(),
  });
  tableWrap.append(table.el);

  // --- columns -------------------------------------------------------------------------------
  function columnIds() {
    if (chosen) return chosen;
    return defaultColumns([...state.keys.metrics].sort(), [...state.keys.params].sort(), 20);
  }
  function applyColumns() {
    table.setColumns([...BASE_COLUMNS, ...columnIds().map(dataColumn)]);
  }
  function fillColumnsPanel() {
    const ids = new Set(columnIds());
    const group = (title, kind, keys) => h('fieldset', null, h('legend', null, title),
      keys.length ? keys.map((k) => {
        const id = `${kind}.${k}`;
        return h('label', { class: 'check' }, h('input', { type: 'checkbox', checked: ids.has(id), onchange: (e) => {
          const cur = columnIds().slice();
          chosen = e.target.checked ? [...cur, id] : cur.filter((x) => x !== id);
          localStorage.setItem(colsKey, JSON.stringify(chosen));
          applyColumns();
        } }), k);
      }) : h('span', { class: 'muted' }, 'none'));
    colsPanel.replaceChildren(
      group('Metrics', 'metrics', [...state.keys.metrics].sort()),
      group('Parameters', 'params', [...state.keys.params].sort()),
      group('Tags', 'tags', [...state.keys.tags].sort()),
      h('button', { type: 'button', class: 'btn small', onclick: () => { chosen = null; localStorage.removeItem(colsKey); applyColumns(); fillColumnsPanel(); } }, 'Reset to default'));
  }

  // --- searching -----------------------------------------------------------------------------
  function learnKeys(rows) {
    for (const r of rows) {
      for (const k in r.m) state.keys.metrics.add(k);
      for (const k in r.p) state.keys.params.add(k);
      for (const k in r.t) state.keys.tags.add(k);
    }
  }
  function clientSortNeeded() { return !orderByFor(state.sort.id, true); }
  function clientSort() {
    const col = [...BASE_COLUMNS, ...columnIds().map(dataColumn)].find((c) => c.id === state.sort.id) || dataColumn(state.sort.id);
    const dir = state.sort.ascending ? 1 : -1;
    state.rows.sort((a, b) => {
      const c = compareRaw(col.raw(a), col.raw(b));
      return (c === 0 ? 0 : (col.raw(a) == null ? 1 : col.raw(b) == null ? -1 : c * dir));
    });
  }
  function updateStatus() {
    const n = state.rows.length;
    status.textContent = n === 0 ? '' : `${n.toLocaleString()} run${n === 1 ? '' : 's'}${state.token ? ' loaded, more available (scroll or Load all)' : ''}`;
    loadAllBtn.hidden = !state.token;
  }
  async function page(token, size) {
    return searchRequest(expId, state.filter, state.sort, state.view, token, size);
  }

  async function search() {
    const gen = ++state.gen;
    state.loadingMore = null;
    filterError.hidden = true;
    table.el.dataset.state = 'loading';
    table.setEmptyText('Loading runs…');
    table.setRows([], {});
    status.textContent = 'Loading…';
    let body;
    const started = prefetched ? t0 : performance.now();
    try {
      if (prefetched) {
        const p = prefetched;
        prefetched = null;
        body = await p;
      } else {
        body = await page(null, FIRST_PAGE);
      }
    } catch (e) {
      if (gen !== state.gen) return;
      state.rows = []; state.token = null;
      const bad = e.status === 400;
      filterError.textContent = bad && state.filter ? `Invalid filter: ${e.message}` : `Could not load runs: ${e.message}`;
      filterError.hidden = false;
      table.setEmptyText(bad ? 'Fix the filter to see runs.' : 'Runs could not be loaded.');
      table.setRows([]);
      table.el.dataset.state = 'error';
      updateStatus();
      return;
    }
    if (gen !== state.gen) return;
    const t1 = performance.now();
    state.rows = (body.runs || []).map(normalizeRun);
    state.token = body.next_page_token || null;
    learnKeys(state.rows);
    if (clientSortNeeded() && state.token) await loadAll(gen);
    if (gen !== state.gen) return;
    if (clientSortNeeded()) clientSort();
    applyColumns();
    table.setEmptyText(state.filter ? 'No runs match this filter.' : 'This experiment has no runs yet.');
    table.setSort(state.sort);
    table.setRows(state.rows, { hasMore: !!state.token });
    if (restoreSelection.length) {
      const ids = new Set(state.rows.map((r) => r.id));
      const keep = restoreSelection.filter((id) => ids.has(id));
      restoreSelection = [];
      if (keep.length) { table.selected = new Set(keep); table.setRows(state.rows, { hasMore: !!state.token }); table.opts.onSelect(keep); }
    }
    updateStatus();
    table.el.dataset.state = 'ready';
    // Timings of the latest search, read by the scale test: the API call, then our own work.
    window.__weirRunsTiming = { request_ms: t1 - started, client_ms: performance.now() - t1, rows: state.rows.length, ready_at: performance.now() };
    if (!window.__weirRunsInteractive) {
      window.__weirRunsInteractive = performance.now();
      performance.mark('weir:runs-interactive');
    }
  }

  function loadMore(gen = state.gen) {
    if (!state.token || state.loadingMore) return state.loadingMore;
    state.loadingMore = (async () => {
      try {
        const body = await page(state.token, PAGE);
        if (gen !== state.gen) return;
        const more = (body.runs || []).map(normalizeRun);
        learnKeys(more);
        state.rows = state.rows.concat(more);
        state.token = body.next_page_token || null;
        if (table.el.dataset.state === 'ready') {
          if (!chosen && table.columns.length !== BASE_COLUMNS.length + columnIds().length) applyColumns();
          table.setRows(state.rows, { hasMore: !!state.token, keepScroll: true });
        }
        updateStatus();
      } catch (e) {
        status.textContent = `Could not load more runs: ${e.message}`;
        state.token = null;
      } finally {
        state.loadingMore = null;
      }
    })();
    return state.loadingMore;
  }

  async function loadAll(gen = state.gen) {
    loadAllBtn.disabled = true;
    while (state.token && gen === state.gen) {
      await loadMore(gen);
    }
    loadAllBtn.disabled = false;
    if (gen === state.gen) {
      if (table.el.dataset.state === 'ready' && clientSortNeeded()) { clientSort(); table.setRows(state.rows, { keepScroll: true }); }
      performance.mark('weir:runs-all-loaded');
      table.el.dataset.loaded = 'all';
    }
  }

  function apply(change) {
    const q = { filter: state.filter, sort: formatSort(state.sort), view: state.view, ...change };
    if (q.sort === formatSort(DEFAULT_SORT)) delete q.sort;
    if (q.view === 'ACTIVE_ONLY') delete q.view;
    location.hash = `#/experiments/${expId}${buildQuery(q)}`;
  }

  form.addEventListener('submit', (e) => { e.preventDefault(); sugList.hidden = true; apply({ filter: filterInput.value.trim() }); });

  // Suggestions for column keys while typing in the filter box.
  let sugIndex = -1;
  const allKeys = () => [
    ...[...state.keys.metrics].map((k) => `metrics.${k}`), ...[...state.keys.params].map((k) => `params.${k}`),
    ...[...state.keys.tags].map((k) => `tags.${k}`), 'attributes.run_name', 'attributes.status', 'attributes.start_time', 'attributes.end_time', 'attributes.user_id',
  ];
  function showSuggestions() {
    const { start, end, items } = suggest(filterInput.value, filterInput.selectionStart ?? filterInput.value.length, allKeys());
    sugIndex = -1;
    if (!items.length) { sugList.hidden = true; return; }
    sugList.replaceChildren(...items.map((k, i) => h('li', { role: 'option', 'data-i': i, onmousedown: (e) => { e.preventDefault(); pick(k, start, end); } }, k)));
    sugList.hidden = false;
  }
  function pick(k, start, end) {
    const v = filterInput.value;
    filterInput.value = v.slice(0, start) + k + ' ' + v.slice(end);
    const pos = start + k.length + 1;
    filterInput.setSelectionRange(pos, pos);
    sugList.hidden = true;
  }
  filterInput.addEventListener('input', showSuggestions);
  filterInput.addEventListener('blur', () => { sugList.hidden = true; });
  filterInput.addEventListener('keydown', (e) => {
    if (sugList.hidden) return;
    const items = [...sugList.children];
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      sugIndex = (sugIndex + (e.key === 'ArrowDown' ? 1 : -1) + items.length) % items.length;
      items.forEach((li, i) => li.setAttribute('aria-selected', String(i === sugIndex)));
    } else if ((e.key === 'Tab' || e.key === 'Enter') && sugIndex >= 0) {
      e.preventDefault();
      const { start, end } = suggest(filterInput.value, filterInput.selectionStart, allKeys());
      pick(items[sugIndex].textContent, start, end);
    } else if (e.key === 'Escape') {
      sugList.hidden = true;
    }
  });

  applyColumns();
  table.setSort(state.sort);
  search();

  return {
    update(q) {
      state.filter = q.filter || '';
      state.sort = parseSort(q.sort, DEFAULT_SORT);
      state.view = q.view || 'ACTIVE_ONLY';
      filterInput.value = state.filter;
      viewSel.value = state.view;
      search();
    },
  };
}
