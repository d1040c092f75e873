// Unit tests for the UI's pure modules (node --test, no browser).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { extent, integerTicks, linearScale, niceStep, niceTicks, nearestIndex, padDomain } from '../../../ui/js/lib/scale.js';
import { downsampleMinMax, normalizePoints, seriesFromBulkInterval, seriesFromHistory, seriesFromWeir } from '../../../ui/js/lib/downsample.js';
import { andClause, buildQuery, clauseFor, defaultColumns, formatSort, orderByFor, parseColumnId, parseQuery, parseSort, quoteKey, quoteString, suggest } from '../../../ui/js/lib/filter.js';
import { asNumber, escapeHtml, formatBytes, formatDuration, formatValue } from '../../../ui/js/lib/format.js';
import { differs } from '../../../ui/js/pages/compare.js';
import { versionFilesSource } from '../../../ui/js/pages/models.js';
import { toQuery } from '../../../ui/js/api.js';
import { allows } from '../../../ui/js/session.js';

test('extent ignores non-finite values', () => {
  assert.deepEqual(extent([3, NaN, -1, Infinity, 7]), [-1, 7]);
  assert.equal(extent([]), null);
  assert.equal(extent([NaN]), null);
});

test('padDomain widens a flat or missing domain', () => {
  assert.deepEqual(padDomain(null), [0, 1]);
  assert.deepEqual(padDomain([1, 1]), [0.9, 1.1]);
  assert.deepEqual(padDomain([0, 0]), [-1, 1]);
  const [lo, hi] = padDomain([0, 10]);
  assert.ok(lo < 0 && hi > 10);
});

test('linearScale maps and inverts', () => {
  const x = linearScale([0, 100], [50, 550]);
  assert.equal(x(0), 50);
  assert.equal(x(100), 550);
  assert.equal(x(50), 300);
  assert.equal(x.invert(300), 50);
  const flat = linearScale([5, 5], [0, 10]);
  assert.equal(flat(5), 0);
  assert.equal(flat.invert(7), 5);
});

test('niceTicks gives round values inside the domain', () => {
  assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(0, 100000, 4), [0, 20000, 40000, 60000, 80000, 100000]);
  assert.deepEqual(niceTicks(0.57, 1.02, 5), [0.6, 0.7, 0.8, 0.9, 1]);
  assert.deepEqual(niceTicks(3, 3), [3]);
  assert.deepEqual(niceTicks(10, 0, 2), [0, 5, 10]);
  for (const t of niceTicks(-0.3, 0.3, 6)) assert.equal(t, Number(t.toPrecision(12)));
  assert.equal(niceStep(0, 5), 1);
});

test('integerTicks keeps integer axes integral', () => {
  assert.deepEqual(integerTicks([-1, -0.5, 0, 0.5, 1], [-1, 1], [0]), [-1, 0, 1]);
  assert.deepEqual(integerTicks([1, 1.5, 2, 2.5, 3], [0.9, 3.1], [1, 3]), [1, 2, 3]);
  assert.deepEqual(integerTicks([0.5, 1], [0.4, 1.1], [0.5, 1]), [0.5, 1]);
  assert.deepEqual(integerTicks([0, 0.2, 0.4], [-0.1, 0.45], [0]), [0]);
});

test('nearestIndex finds the closest step', () => {
  const pts = [0, 10, 20, 30].map((step) => ({ step }));
  assert.equal(nearestIndex(pts, -5), 0);
  assert.equal(nearestIndex(pts, 14), 1);
  assert.equal(nearestIndex(pts, 16), 2);
  assert.equal(nearestIndex(pts, 99), 3);
  assert.equal(nearestIndex([], 1), -1);
});

test('downsampleMinMax keeps spikes and the ends', () => {
  const pts = Array.from({ length: 100000 }, (_, step) => ({ step, value: step === 12345 ? 100 : step === 70000 ? -100 : Math.sin(step / 100) }));
  const out = downsampleMinMax(pts, 1000);
  assert.ok(out.length <= 1001, `got ${out.length}`);
  assert.ok(out.length > 300);
  assert.ok(out.some((p) => p.value === 100), 'max spike kept');
  assert.ok(out.some((p) => p.value === -100), 'min spike kept');
  assert.equal(out[0].step, 0);
  assert.equal(out[out.length - 1].step, 99999);
  for (let i = 1; i < out.length; i++) assert.ok(out[i].step > out[i - 1].step, 'steps stay increasing');
});

test('downsampleMinMax leaves small series alone', () => {
  const pts = [{ step: 0, value: 1 }, { step: 1, value: 2 }];
  assert.deepEqual(downsampleMinMax(pts, 10), pts);
  assert.notEqual(downsampleMinMax(pts, 10), pts);
  assert.deepEqual(downsampleMinMax(null, 10), []);
});

test('normalizePoints sorts and keeps the last value per step', () => {
  const out = normalizePoints([
    { step: 2, value: 5, timestamp: 1 }, { step: 1, value: 'NaN', timestamp: 1 }, { step: 2, value: 6, timestamp: 2 }, { value: 0, timestamp: 0 },
  ]);
  assert.deepEqual(out.map((p) => [p.step, p.value]), [[0, 0], [1, NaN], [2, 6]]);
});

test('seriesFromBulkInterval groups MLflow metrics by run, in the asked order', () => {
  const body = { metrics: [
    { key: 'loss', value: 1, step: 1, timestamp: 1, run_id: 'b' },
    { key: 'loss', value: 2, step: 0, timestamp: 1, run_id: 'b' },
    { key: 'loss', value: 3, step: 0, timestamp: 1, run_id: 'a' },
  ] };
  const s = seriesFromBulkInterval(body, ['a', 'b', 'c'], 'loss', 100);
  assert.deepEqual(s.map((x) => x.run_id), ['a', 'b', 'c']);
  assert.deepEqual(s[1].points.map((p) => p.step), [0, 1]);
  assert.equal(s[2].points.length, 0);
  assert.equal(s[0].downsampled, false);
  assert.equal(s[0].total_points, 1);
  const full = seriesFromBulkInterval(body, ['b'], 'loss', 2);
  assert.equal(full[0].downsampled, true);
  assert.equal(full[0].total_points, null);
  assert.deepEqual(seriesFromBulkInterval({}, ['a'], 'loss', 5)[0].points, []);
});

test('seriesFromWeir fills in missing runs and sorts points', () => {
  const s = seriesFromWeir({ series: [{ run_id: 'a', key: 'k', total_points: 100000, downsampled: true, points: [{ step: 5, value: 1 }, { step: 1, value: 2 }] }] }, ['a', 'b'], 'k');
  assert.equal(s[0].total_points, 100000);
  assert.equal(s[0].downsampled, true);
  assert.deepEqual(s[0].points.map((p) => p.step), [1, 5]);
  assert.deepEqual(s[1], { run_id: 'b', key: 'k', total_points: 0, downsampled: false, points: [] });
});

test('seriesFromHistory buckets on the client', () => {
  const metrics = Array.from({ length: 5000 }, (_, i) => ({ key: 'k', value: i % 7, step: i, timestamp: i }));
  const s = seriesFromHistory('r', 'k', metrics, 300);
  assert.equal(s.total_points, 5000);
  assert.equal(s.downsampled, true);
  assert.ok(s.points.length <= 301);
});

test('quoteKey and quoteString follow the search grammar', () => {
  assert.equal(quoteKey('accuracy'), 'accuracy');
  assert.equal(quoteKey('val.acc'), 'val.acc');
  assert.equal(quoteKey('my metric'), '`my metric`');
  assert.equal(quoteKey('a-b'), '`a-b`');
  assert.equal(quoteString("it's"), "'it\\'s'");
});

test('orderByFor makes server order_by clauses, or null', () => {
  assert.equal(orderByFor('metrics.accuracy', false), 'metrics.accuracy DESC');
  assert.equal(orderByFor('params.max depth', true), 'params.`max depth` ASC');
  assert.equal(orderByFor('tags.team', true), 'tags.team ASC');
  assert.equal(orderByFor('attributes.start_time', false), 'attributes.start_time DESC');
  assert.equal(orderByFor('duration', true), null);
  assert.equal(orderByFor('attributes.nonsense', true), null);
});

test('column ids, sort strings and clauses round-trip', () => {
  assert.deepEqual(parseColumnId('metrics.val.acc'), { kind: 'metrics', key: 'val.acc' });
  assert.deepEqual(parseColumnId('duration'), { kind: 'attributes', key: 'duration' });
  assert.deepEqual(parseSort('metrics.val.acc:desc'), { id: 'metrics.val.acc', ascending: false });
  assert.deepEqual(parseSort(''), { id: 'attributes.start_time', ascending: false });
  assert.equal(formatSort({ id: 'params.x', ascending: true }), 'params.x:asc');
  assert.equal(clauseFor('metrics.accuracy', 0.98), 'metrics.accuracy = 0.98');
  assert.equal(clauseFor('params.max_depth', '3'), "params.max_depth = '3'");
  assert.equal(andClause('', 'a = 1'), 'a = 1');
  assert.equal(andClause('b = 2 ', 'a = 1'), 'b = 2 and a = 1');
});

test('suggest completes the key being typed', () => {
  const keys = ['metrics.accuracy', 'metrics.acc_val', 'params.max_depth'];
  const r = suggest('metrics.acc', 11, keys);
  assert.deepEqual(r.items, ['metrics.accuracy', 'metrics.acc_val']);
  assert.equal(r.start, 0);
  const r2 = suggest('metrics.accuracy > 0.9 and par', 30, keys);
  assert.deepEqual(r2.items, ['params.max_depth']);
  assert.equal(r2.start, 27);
  assert.deepEqual(suggest('x > 1 ', 6, keys).items, []);
});

test('defaultColumns puts metrics first and caps the count', () => {
  assert.deepEqual(defaultColumns(['a', 'b'], ['p'], 20), ['metrics.a', 'metrics.b', 'params.p']);
  assert.equal(defaultColumns(Array(15).fill('m'), Array(15).fill('p'), 20).length, 20);
});

test('query strings', () => {
  assert.deepEqual(parseQuery('filter=metrics.accuracy%20%3E%200.97&sort=x:asc'), { filter: 'metrics.accuracy > 0.97', sort: 'x:asc' });
  assert.equal(buildQuery({ a: 'x y', b: '', c: null }), '?a=x+y');
  assert.equal(buildQuery({}), '');
  assert.equal(buildQuery({ sort: 'metrics.acc:desc', runs: 'a,b' }), '?sort=metrics.acc:desc&runs=a,b');
  assert.equal(toQuery({ run_ids: ['a', 'b'], metric_key: 'k', skip: undefined }), 'run_ids=a&run_ids=b&metric_key=k');
});

test('formatting', () => {
  assert.equal(formatValue(1), '1');
  assert.equal(formatValue(0.977777777), '0.97778');
  assert.equal(formatValue(1.23e-7), '1.230e-7');
  assert.equal(formatValue(undefined), '');
  assert.equal(formatValue(NaN), 'NaN');
  assert.equal(formatDuration(850), '850ms');
  assert.equal(formatDuration(12300), '12.3s');
  assert.equal(formatDuration(245000), '4m 05s');
  assert.equal(formatDuration(7380000), '2h 03m');
  assert.equal(formatDuration(-1), '');
  assert.equal(formatBytes(812), '812 B');
  assert.equal(formatBytes(7837), '7.7 KiB');
  assert.equal(escapeHtml('<a href="x">&'), '&lt;a href=&quot;x&quot;&gt;&amp;');
  assert.equal(asNumber('3'), 3);
  assert.equal(asNumber('gini'), null);
  assert.equal(asNumber(''), null);
});

test('differs treats a missing value as different', () => {
  assert.equal(differs(['1', '1']), false);
  assert.equal(differs(['1', '2']), true);
  assert.equal(differs(['1', undefined]), true);
  assert.equal(differs([1, '1']), false);
});

test('versionFilesSource reads the model version source', () => {
  assert.deepEqual(versionFilesSource({ source: 'models:/m-26935f411b92442ba50c7e240dd933ec' }), { kind: 'logged-model', modelId: 'm-26935f411b92442ba50c7e240dd933ec' });
  assert.deepEqual(versionFilesSource({ source: 'runs:/abc/model' }), { kind: 'run', runId: 'abc', path: 'model' });
  assert.deepEqual(versionFilesSource({ source: 'mlflow-artifacts:/1/0123456789abcdef0123456789abcdef/artifacts/model' }), { kind: 'run', runId: '0123456789abcdef0123456789abcdef', path: 'model' });
  assert.equal(versionFilesSource({ source: 's3://bucket/x' }), null);
});

test('allows: levels as the server orders them', () => {
  assert.equal(allows('MANAGE', 'delete'), true);
  assert.equal(allows('EDIT', 'update'), true);
  assert.equal(allows('EDIT', 'delete'), false);
  assert.equal(allows('USE', 'read'), true);
  assert.equal(allows('READ', 'update'), false);
  assert.equal(allows('NO_PERMISSIONS', 'read'), false);
  assert.equal(allows('DENY', 'read'), false);
  assert.equal(allows(undefined, 'read'), false);
  assert.equal(allows('MANAGE', 'nonsense'), false);
});
