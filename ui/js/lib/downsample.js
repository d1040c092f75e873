// Metric series for charts: the shape of Weir's downsample endpoint, and the conversions and
// client-side min/max bucketing used when only MLflow's endpoints are there. Pure, unit-tested.
//
// Series shape (Weir's GET /ajax-api/2.0/weir/metrics/downsample):
//   {run_id, key, total_points, downsampled, points: [{step, value, timestamp}]}

/**
 * Keep at most about `maxPoints` points of a step-sorted series: split it into buckets of equal
 * size and keep each bucket's first point, its minimum and its maximum (in step order), so that
 * spikes survive. Series that are already small come back unchanged.
 */
export function downsampleMinMax(points, maxPoints) {
  if (!Array.isArray(points)) return [];
  if (points.length <= maxPoints || maxPoints < 3) return points.slice();
  const buckets = Math.max(1, Math.floor(maxPoints / 3));
  const size = points.length / buckets;
  const out = [];
  for (let b = 0; b < buckets; b++) {
    const start = Math.floor(b * size);
    const end = Math.min(points.length, Math.floor((b + 1) * size));
    if (end <= start) continue;
    let iMin = start, iMax = start;
    for (let i = start + 1; i < end; i++) {
      if (points[i].value < points[iMin].value) iMin = i;
      if (points[i].value > points[iMax].value) iMax = i;
    }
    const keep = [...new Set([start, iMin, iMax])].sort((a, c) => a - c);
    for (const i of keep) out.push(points[i]);
  }
  const last = points[points.length - 1];
  if (out[out.length - 1] !== last) out.push(last);
  return out;
}

/** Sort points by step (then timestamp) and keep the last value logged at each step. */
export function normalizePoints(points) {
  const sorted = points
    .map((p) => ({ step: Number(p.step ?? 0), value: toNumber(p.value), timestamp: Number(p.timestamp ?? 0) }))
    .sort((a, b) => a.step - b.step || a.timestamp - b.timestamp);
  const out = [];
  for (const p of sorted) {
    if (out.length && out[out.length - 1].step === p.step) out[out.length - 1] = p;
    else out.push(p);
  }
  return out;
}

function toNumber(v) {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  return Number(v);
}

/**
 * Turn MLflow's get-history-bulk-interval answer ({metrics:[{key,value,timestamp,step,run_id}]})
 * into series in Weir's shape, one per requested run (in the order asked), empty when a run has
 * none. `downsampled` is true when the server may have dropped points (it returned maxResults).
 */
export function seriesFromBulkInterval(body, runIds, key, maxResults) {
  const byRun = new Map(runIds.map((id) => [id, []]));
  for (const m of (body && body.metrics) || []) {
    if (m.key !== undefined && m.key !== key) continue;
    if (!byRun.has(m.run_id)) byRun.set(m.run_id, []);
    byRun.get(m.run_id).push(m);
  }
  return [...byRun.entries()].map(([run_id, pts]) => {
    const points = normalizePoints(pts);
    // MLflow samples evenly spaced steps and doesn't say how many points there were in all.
    const sampled = points.length >= maxResults;
    return { run_id, key, total_points: sampled ? null : points.length, downsampled: sampled, points };
  });
}

/** Series from a full history (metrics/get-history), bucketed on the client. */
export function seriesFromHistory(runId, key, metrics, maxPoints) {
  const all = normalizePoints(metrics || []);
  const points = downsampleMinMax(all, maxPoints);
  return { run_id: runId, key, total_points: all.length, downsampled: points.length < all.length, points };
}

/** Normalize a Weir downsample answer: sorted points, numbers, every asked run present. */
export function seriesFromWeir(body, runIds, key) {
  const got = new Map();
  for (const s of (body && body.series) || []) got.set(s.run_id, s);
  return runIds.map((id) => {
    const s = got.get(id);
    if (!s) return { run_id: id, key, total_points: 0, downsampled: false, points: [] };
    const points = (s.points || [])
      .map((p) => ({ step: Number(p.step ?? 0), value: toNumber(p.value), timestamp: Number(p.timestamp ?? 0) }))
      .sort((a, b) => a.step - b.step);
    return { run_id: id, key: s.key ?? key, total_points: Number(s.total_points ?? points.length), downsampled: !!s.downsampled, points };
  });
}
