// Compare runs: side-by-side params and metrics with differences highlighted, overlaid metric
// history with a legend, and a scatter of one param/metric against another.
import { h, loading, errorBox, pageHeader, section, color, empty } from '../dom.js';
import { mlflow } from '../api.js';
import { fetchSeries } from '../metrics.js';
import { lineChart, scatterChart, legend } from '../chart.js';
import { asNumber, formatDuration, formatTime, formatValue } from '../lib/format.js';
import { normalizeRun } from './experiment.js';

/** True when the values (undefined = missing) are not all the same. */
export function differs(values) {
  return new Set(values.map((v) => (v === undefined ? '\u0000missing' : String(v)))).size > 1;
}

export async function render(view, _params, query) {
  const ids = (query.runs || '').split(',').map((x) => x.trim()).filter(Boolean);
  document.title = 'Compare runs · Weir';
  const crumbs = [['Experiments', '#/']];
  if (!ids.length) {
    view.replaceChildren(pageHeader(crumbs, 'Compare runs'), empty('No runs chosen. Select runs with the checkboxes in an experiment, then press Compare.'));
    return null;
  }
  view.append(loading(`Loading ${ids.length} runs…`));
  let runs, exp = null;
  try {
    runs = (await Promise.all(ids.map((id) => mlflow('GET', 'runs/get', { run_id: id, run_uuid: id })))).map((r) => normalizeRun(r.run));
    const eid = query.experiment || runs[0].exp;
    exp = (await mlflow('GET', 'experiments/get', { experiment_id: eid })).experiment;
  } catch (e) {
    view.replaceChildren(pageHeader(crumbs, 'Compare runs'), errorBox(e, 'Could not load the runs'));
    return null;
  }
  if (exp) crumbs.push([exp.name, `#/experiments/${exp.experiment_id}`]);
  crumbs.push([`Compare ${runs.length} runs`, null]);
  runs.forEach((r, i) => { r.color = color(i); r.href = `#/experiments/${r.exp}/runs/${r.id}`; });

  const paramKeys = [...new Set(runs.flatMap((r) => Object.keys(r.p)))].sort();
  const metricKeys = [...new Set(runs.flatMap((r) => Object.keys(r.m)))].sort();

  // --- side-by-side table ------------------------------------------------------------------
  const onlyDiff = h('input', { type: 'checkbox', id: 'only-diff' });
  const head = h('tr', null, h('th', { scope: 'col', class: 'corner' }, 'Run'),
    runs.map((r) => h('th', { scope: 'col' }, h('span', { class: 'swatch', style: { background: r.color } }), h('a', { href: r.href }, r.name))));
  const rows = [];
  const groupRow = (title) => h('tr', { class: 'group' }, h('th', { colspan: runs.length + 1, scope: 'colgroup' }, title));
  // Rows of params and metrics whose values differ are highlighted; run info rows never are.
  const valueRow = (label, values, fmt = (v) => v, info = false) => {
    const diff = !info && differs(values);
    const tr = h('tr', { class: info ? 'info' : diff ? 'diff' : 'same', 'data-key': label },
      h('th', { scope: 'row' }, label, diff ? h('span', { class: 'sr-only' }, ' (differs)') : null),
      values.map((v) => h('td', null, v === undefined ? h('span', { class: 'muted' }, '—') : fmt(v))));
    if (!info) rows.push(tr);
    return tr;
  };
  const tbody = h('tbody', null,
    groupRow('Run'),
    valueRow('Started', runs.map((r) => r.start), formatTime, true),
    valueRow('Duration', runs.map((r) => (r.start && r.end ? r.end - r.start : undefined)), formatDuration, true),
    valueRow('Status', runs.map((r) => r.status), String, true),
    groupRow(`Parameters (${paramKeys.length})`),
    paramKeys.map((k) => valueRow(k, runs.map((r) => r.p[k]))),
    groupRow(`Metrics (${metricKeys.length})`),
    metricKeys.map((k) => valueRow(k, runs.map((r) => r.m[k]), (v) => formatValue(v, 6))));
  const table = h('table', { class: 'data compare-table' }, h('thead', null, head), tbody);
  onlyDiff.addEventListener('change', () => table.classList.toggle('only-diff', onlyDiff.checked));
  const nDiff = rows.filter((r) => r.classList.contains('diff')).length;

  // --- overlaid metric chart -----------------------------------------------------------------
  const chartBox = h('div', { class: 'compare-chart' });
  const metricSel = h('select', { 'aria-label': 'Metric to chart', class: 'metric-select' }, metricKeys.map((k) => h('option', { value: k }, k)));
  async function drawChart() {
    const key = metricSel.value;
    if (!key) { chartBox.replaceChildren(empty('These runs have no metrics.')); return; }
    chartBox.replaceChildren(loading('Loading history…'));
    try {
      const series = await fetchSeries(runs.map((r) => r.id), key, 1000);
      if (metricSel.value !== key) return;
      chartBox.replaceChildren(lineChart({
        series: series.map((sr, i) => ({ name: runs[i].name, href: runs[i].href, run_id: sr.run_id, color: runs[i].color, points: sr.points,
          note: sr.downsampled ? (sr.total_points ? `(${sr.points.length} of ${sr.total_points} points)` : `(sampled to ${sr.points.length} points)`) : '' })),
        yLabel: key, height: 280, showLegend: true,
      }));
    } catch (e) {
      chartBox.replaceChildren(errorBox(e, 'Could not load the history'));
    }
  }
  metricSel.addEventListener('change', drawChart);

  // --- scatter -------------------------------------------------------------------------------
  const options = [...paramKeys.map((k) => [`params.${k}`, `param: ${k}`]), ...metricKeys.map((k) => [`metrics.${k}`, `metric: ${k}`])];
  const firstDiffParam = paramKeys.find((k) => differs(runs.map((r) => r.p[k])));
  const xSel = h('select', { 'aria-label': 'X axis', class: 'x-select' }, options.map(([v, l]) => h('option', { value: v }, l)));
  const ySel = h('select', { 'aria-label': 'Y axis', class: 'y-select' }, options.map(([v, l]) => h('option', { value: v }, l)));
  xSel.value = firstDiffParam ? `params.${firstDiffParam}` : options[0]?.[0] || '';
  ySel.value = metricKeys.includes('accuracy') ? 'metrics.accuracy' : metricKeys[0] ? `metrics.${metricKeys[0]}` : options[0]?.[0] || '';
  const scatterBox = h('div', { class: 'compare-scatter' });
  const valueOf = (r, id) => {
    if (id.startsWith('metrics.')) { const v = r.m[id.slice(8)]; return v === undefined ? null : v; }
    const v = r.p[id.slice(7)];
    if (v === undefined) return null;
    return asNumber(v) ?? v;
  };
  function drawScatter() {
    if (!options.length) { scatterBox.replaceChildren(empty('No parameters or metrics to plot.')); return; }
    const label = (id) => id.replace(/^params\./, '').replace(/^metrics\./, '');
    // A param column with mixed numbers and words is plotted as words (categories).
    const col = (id) => {
      const vals = runs.map((r) => valueOf(r, id));
      return vals.some((v) => typeof v === 'string') ? vals.map((v) => (v === null ? null : String(v))) : vals;
    };
    const xs = col(xSel.value), ys = col(ySel.value);
    scatterBox.replaceChildren(scatterChart({
      points: runs.map((r, i) => ({ x: xs[i], y: ys[i], label: r.name, color: r.color, href: r.href })),
      xLabel: label(xSel.value), yLabel: label(ySel.value), height: 300,
    }));
  }
  xSel.addEventListener('change', drawScatter);
  ySel.addEventListener('change', drawScatter);

  view.replaceChildren(...[
    pageHeader(crumbs, `Compare ${runs.length} runs`),
    runs.length < 2 ? h('p', { class: 'note' }, 'Only one run is chosen; select two or more runs in the experiment to see differences.') : null,
    legend(runs.map((r) => ({ name: r.name, color: r.color, href: r.href }))),
    section('Parameters and metrics',
      h('div', { class: 'toolbar small' }, h('label', { class: 'check' }, onlyDiff, 'Show only rows that differ'),
        h('span', { class: 'muted diff-count' }, `${nDiff} of ${rows.length} parameters and metrics differ (highlighted)`)),
      h('div', { class: 'scroll-x' }, table)),
    h('div', { class: 'grid-2 wide-left' },
      section('Metric history', h('div', { class: 'toolbar small' }, h('label', null, 'Metric ', metricSel)), chartBox),
      section('Scatter', h('div', { class: 'toolbar small' }, h('label', null, 'X ', xSel), h('label', null, 'Y ', ySel)), scatterBox)),
  ].filter(Boolean));
  drawChart();
  drawScatter();
  return null;
}
