// Run detail: overview, latest metrics, params, tags, metric charts over steps, artifacts.
import { h, loading, errorBox, pageHeader, kvTable, section, chip, color } from '../dom.js';
import { mlflow, runArtifactUrl } from '../api.js';
import { fetchSeries } from '../metrics.js';
import { lineChart } from '../chart.js';
import { artifactBrowser } from '../artifacts.js';
import { formatDuration, formatTime, formatValue } from '../lib/format.js';
import { quoteString } from '../lib/filter.js';

export async function resolve(view, { id }) {
  view.append(loading('Finding run…'));
  try {
    const run = (await mlflow('GET', 'runs/get', { run_id: id, run_uuid: id })).run;
    location.replace(`#/experiments/${run.info.experiment_id}/runs/${id}`);
  } catch (e) {
    view.replaceChildren(pageHeader([['Experiments', '#/']], `Run ${id}`), errorBox(e, 'Could not load the run'));
  }
  return null;
}

export async function render(view, { eid, rid }) {
  view.append(loading('Loading run…'));
  let run, exp;
  try {
    run = (await mlflow('GET', 'runs/get', { run_id: rid, run_uuid: rid })).run;
    exp = (await mlflow('GET', 'experiments/get', { experiment_id: run.info.experiment_id || eid })).experiment;
  } catch (e) {
    view.replaceChildren(pageHeader([['Experiments', '#/'], [`Experiment ${eid}`, `#/experiments/${eid}`]], `Run ${rid}`), errorBox(e, 'Could not load the run'));
    return null;
  }
  const info = run.info, data = run.data || {};
  const name = info.run_name || rid;
  document.title = `${name} · Weir`;
  const metrics = [...(data.metrics || [])].sort((a, b) => a.key.localeCompare(b.key));
  const params = [...(data.params || [])].sort((a, b) => a.key.localeCompare(b.key));
  const tags = [...(data.tags || [])].sort((a, b) => a.key.localeCompare(b.key));
  const userTags = tags.filter((t) => !t.key.startsWith('mlflow.'));
  const sysTags = tags.filter((t) => t.key.startsWith('mlflow.'));

  const duration = info.end_time && info.start_time ? formatDuration(Number(info.end_time) - Number(info.start_time)) : '';
  const registered = h('span', { class: 'muted' }, '…');
  const overview = kvTable([
    ['Run ID', h('code', null, info.run_id)],
    ['Experiment', h('a', { href: `#/experiments/${exp.experiment_id}` }, exp.name)],
    ['Status', chip(info.status || '', `status-${(info.status || '').toLowerCase()}`)],
    ['Started', formatTime(info.start_time)],
    ['Ended', info.end_time ? formatTime(info.end_time) : '—'],
    ['Duration', duration || '—'],
    ['User', info.user_id || '—'],
    ['Lifecycle', info.lifecycle_stage || ''],
    ['Artifact URI', h('code', { class: 'wrap' }, info.artifact_uri || '')],
    ['Registered models', registered],
  ], { className: 'overview' });

  const chartsGrid = h('div', { class: 'charts-grid' });
  const chartCards = new Map();
  const metricsTable = metrics.length ? h('table', { class: 'data compact metrics-table' },
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Metric'), h('th', { scope: 'col', class: 'num' }, 'Latest'), h('th', { scope: 'col', class: 'num' }, 'Step'), h('th', null, ''))),
    h('tbody', null, metrics.map((m) => h('tr', null, h('th', { scope: 'row' }, m.key), h('td', { class: 'num' }, formatValue(m.value, 6)),
      h('td', { class: 'num' }, m.step ?? 0),
      h('td', null, h('button', { type: 'button', class: 'btn small link', onclick: () => chartCards.get(m.key)?.scrollIntoView({ behavior: 'smooth', block: 'center' }) }, 'Chart'))))))
    : h('div', { class: 'muted' }, 'No metrics logged.');

  const paramsTable = kvTable(params.map((p) => [p.key, p.value]), { emptyText: 'No parameters logged.', className: 'params-table' });
  const tagsBlock = h('div', null,
    kvTable(userTags.map((t) => [t.key, t.value]), { emptyText: 'No tags.', className: 'tags-table' }),
    sysTags.length ? h('details', { class: 'sys-tags' }, h('summary', null, `System tags (${sysTags.length})`),
      kvTable(sysTags.map((t) => [t.key, h('span', { class: 'wrap' }, t.value)]))) : null);

  view.replaceChildren(
    pageHeader([['Experiments', '#/'], [exp.name, `#/experiments/${exp.experiment_id}`], [name, null]], name,
      h('a', { class: 'btn', href: `#/compare?runs=${rid}&experiment=${exp.experiment_id}` }, 'Open in compare')),
    h('div', { class: 'grid-2' }, section('Overview', overview), section('Metrics', metricsTable)),
    h('div', { class: 'grid-2' }, section('Parameters', paramsTable), section('Tags', tagsBlock)),
    section('Metric charts', metrics.length ? chartsGrid : h('div', { class: 'muted' }, 'No metrics to chart.')),
    section('Artifacts', artifactBrowser({
      list: async (path) => (await mlflow('GET', 'artifacts/list', { run_id: rid, run_uuid: rid, path: path || undefined })).files || [],
      fileUrl: (path) => runArtifactUrl(rid, path),
    })),
  );

  mlflow('GET', 'model-versions/search', { filter: `run_id = ${quoteString(rid)}`, max_results: 100 })
    .then((r) => {
      const mv = r.model_versions || [];
      registered.replaceChildren(...(mv.length ? mv.map((v) => h('a', { class: 'chip', href: `#/models/${encodeURIComponent(v.name)}/versions/${v.version}` }, `${v.name} v${v.version}`)) : ['—']));
      registered.className = '';
    })
    .catch(() => { registered.textContent = '—'; });

  // Charts: one per metric, fetched a few at a time.
  for (const m of metrics) {
    const card = h('div', { class: 'chart-card', 'data-metric': m.key }, h('h3', null, m.key), loading('Loading history…'));
    chartCards.set(m.key, card);
    chartsGrid.append(card);
  }
  const queue = metrics.map((m) => m.key);
  const worker = async () => {
    while (queue.length && view.isConnected) {
      const key = queue.shift();
      const card = chartCards.get(key);
      try {
        const [series] = await fetchSeries([rid], key, 1000);
        const n = series.points.length;
        const note = !series.downsampled ? `${n.toLocaleString()} point${n === 1 ? '' : 's'}`
          : series.total_points ? `${n.toLocaleString()} of ${series.total_points.toLocaleString()} points (min/max kept)`
            : `sampled to ${n.toLocaleString()} points`;
        card.replaceChildren(h('h3', null, key, h('span', { class: 'muted note' }, note)),
          lineChart({ series: [{ name, run_id: rid, color: color(0), points: series.points }], yLabel: key, height: 220 }));
      } catch (e) {
        card.replaceChildren(h('h3', null, key), errorBox(e, 'Could not load the history'));
      }
    }
  };
  Promise.all([worker(), worker(), worker()]);
  return null;
}
