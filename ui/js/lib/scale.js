// Chart scaling: extents, linear scales and "nice" tick values. Pure, unit-tested.

/** [min, max] of the finite numbers in `values`, or null when there are none. */
export function extent(values) {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) {
    if (typeof v !== 'number' || !Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo === Infinity ? null : [lo, hi];
}

/** Widen a degenerate or empty domain so that a scale over it is well defined, and pad it a little. */
export function padDomain(domain, fraction = 0.05) {
  if (!domain) return [0, 1];
  let [lo, hi] = domain;
  if (lo === hi) {
    const d = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    return [lo - d, hi + d];
  }
  const pad = (hi - lo) * fraction;
  return [lo - pad, hi + pad];
}

/** A linear map from domain [d0, d1] to range [r0, r1], with `.invert`. */
export function linearScale([d0, d1], [r0, r1]) {
  const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
  const f = (v) => r0 + (v - d0) * k;
  f.invert = (p) => (k === 0 ? d0 : d0 + (p - r0) / k);
  f.domain = [d0, d1];
  f.range = [r0, r1];
  return f;
}

/** A step of 1, 2 or 5 times a power of ten close to span/count. */
export function niceStep(span, count) {
  if (!(span > 0) || !(count > 0)) return 1;
  const raw = span / count;
  const pow = Math.pow(10, Math.floor(Math.log10(raw)));
  const m = raw / pow;
  const nice = m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10;
  return nice * pow;
}

/** About `count` round tick values covering [lo, hi] (inside it). */
export function niceTicks(lo, hi, count = 5) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (lo > hi) [lo, hi] = [hi, lo];
  if (lo === hi) return [lo];
  const step = niceStep(hi - lo, count);
  const start = Math.ceil(lo / step - 1e-9) * step;
  const ticks = [];
  for (let v = start, i = 0; v <= hi + step * 1e-9 && i < 1000; i++, v = start + i * step) {
    // Round away floating point noise (0.30000000000000004).
    ticks.push(Number(v.toPrecision(12)));
  }
  return ticks;
}

/** Index of the point whose `step` is nearest to `x` in points sorted by step (binary search). */
export function nearestIndex(points, x, key = 'step') {
  if (!points.length) return -1;
  let lo = 0, hi = points.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (points[mid][key] < x) lo = mid + 1; else hi = mid;
  }
  if (lo > 0 && Math.abs(points[lo - 1][key] - x) <= Math.abs(points[lo][key] - x)) return lo - 1;
  return lo;
}

/**
 * Ticks for an axis whose values are all integers (steps, tree counts): drop fractional ticks,
 * and if that leaves fewer than two, use the integers of the domain when there are few.
 */
export function integerTicks(ticks, [lo, hi], values) {
  if (!values.every((v) => Number.isInteger(v))) return ticks;
  const ints = ticks.filter((t) => Number.isInteger(t));
  if (ints.length >= 2) return ints;
  const a = Math.ceil(lo), b = Math.floor(hi);
  if (b - a <= 10) return Array.from({ length: Math.max(0, b - a + 1) }, (_, i) => a + i);
  return ints;
}
