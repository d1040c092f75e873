// SVG charts of our own: metric lines over steps (several series, legend, hover read-out) and a
// scatter of one value against another. Redrawn to the container's width on resize.
import { h, s } from './dom.js';
import { extent, integerTicks, linearScale, nearestIndex, niceTicks, padDomain } from './lib/scale.js';
import { formatValue } from './lib/format.js';

const M = { left: 58, right: 14, top: 12, bottom: 34 };

function onWidth(el, draw) {
  let last = -1;
  const ro = new ResizeObserver(() => {
    const w = Math.max(220, Math.floor(el.clientWidth));
    if (w !== last && el.isConnected) { last = w; draw(w); }
  });
  ro.observe(el);
}

function axes(g, x, y, W, H, xTicks, yTicks, xFmt, yFmt, xLabel, yLabel) {
  const grid = s('g', { class: 'grid' });
  for (const t of yTicks) {
    const py = y(t);
    grid.append(s('line', { x1: M.left, x2: W - M.right, y1: py, y2: py }));
    g.append(s('text', { class: 'tick y', x: M.left - 6, y: py, 'text-anchor': 'end', 'dominant-baseline': 'middle' }, yFmt(t)));
  }
  for (const t of xTicks) {
    const px = x(t);
    grid.append(s('line', { x1: px, x2: px, y1: M.top, y2: H - M.bottom }));
    g.append(s('text', { class: 'tick x', x: px, y: H - M.bottom + 14, 'text-anchor': 'middle' }, xFmt(t)));
  }
  g.prepend(grid);
  g.append(s('line', { class: 'axis', x1: M.left, x2: W - M.right, y1: H - M.bottom, y2: H - M.bottom }));
  g.append(s('line', { class: 'axis', x1: M.left, x2: M.left, y1: M.top, y2: H - M.bottom }));
  if (xLabel) g.append(s('text', { class: 'axis-label', x: (M.left + W - M.right) / 2, y: H - 4, 'text-anchor': 'middle' }, xLabel));
  if (yLabel) g.append(s('text', { class: 'axis-label', x: 12, y: (M.top + H - M.bottom) / 2, 'text-anchor': 'middle', transform: `rotate(-90 12 ${(M.top + H - M.bottom) / 2})` }, yLabel));
}

function tooltip() {
  return h('div', { class: 'chart-tip', role: 'status', hidden: true });
}

function placeTip(tip, el, px, py) {
  tip.hidden = false;
  const w = tip.offsetWidth, hgt = tip.offsetHeight, W = el.clientWidth;
  let left = px + 14;
  if (left + w > W - 4) left = px - w - 14;
  tip.style.left = `${Math.max(4, left)}px`;
  tip.style.top = `${Math.max(0, py - hgt / 2)}px`;
}

export function legend(items) {
  return h('ul', { class: 'legend' }, items.map((it) => h('li', null,
    h('span', { class: 'swatch', style: { background: it.color } }),
    it.href ? h('a', { href: it.href }, it.name) : it.name,
    it.note ? h('span', { class: 'muted' }, ` ${it.note}`) : null)));
}

/**
 * Lines over steps. series: [{name, color, points: [{step, value}]}] with points sorted by step.
 * Returns the chart element; it draws itself once it is in the document.
 */
export function lineChart({ series, height = 240, xLabel = 'step', yLabel = '', showLegend = series.length > 1, title }) {
  const el = h('div', { class: 'chart', 'data-kind': 'line' });
  const box = h('div', { class: 'chart-box', style: { height: `${height}px` } });
  const tip = tooltip();
  box.append(tip);
  if (title) el.append(h('h3', { class: 'chart-title' }, title));
  el.append(box);
  if (showLegend) el.append(legend(series));
  const nonEmpty = series.filter((sr) => sr.points.length);
  if (!nonEmpty.length) {
    box.append(h('div', { class: 'state empty' }, 'No data points.'));
    return el;
  }
  const xs = extent(nonEmpty.flatMap((sr) => [sr.points[0].step, sr.points[sr.points.length - 1].step]));
  const ys = extent(nonEmpty.flatMap((sr) => sr.points.map((p) => p.value)));
  const xDom = xs[0] === xs[1] ? padDomain(xs) : xs;
  const yDom = padDomain(ys);

  onWidth(box, (W) => {
    const H = height;
    box.querySelector('svg')?.remove();
    const x = linearScale(xDom, [M.left, W - M.right]);
    const y = linearScale(yDom, [H - M.bottom, M.top]);
    const svg = s('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${title || yLabel || 'metric'} over ${xLabel}` });
    const g = s('g');
    const steps = nonEmpty.flatMap((sr) => [sr.points[0].step, sr.points[sr.points.length - 1].step]);
    axes(g, x, y, W, H, integerTicks(niceTicks(xDom[0], xDom[1], Math.max(2, Math.floor(W / 90))), xDom, steps), niceTicks(yDom[0], yDom[1], 5),
      (v) => formatValue(v, 4), (v) => formatValue(v, 4), xLabel, yLabel);
    const clipId = `clip${Math.random().toString(36).slice(2)}`;
    svg.append(s('defs', null, s('clipPath', { id: clipId }, s('rect', { x: M.left, y: M.top - 2, width: W - M.left - M.right, height: H - M.top - M.bottom + 4 }))));
    const lines = s('g', { 'clip-path': `url(#${clipId})` });
    for (const sr of nonEmpty) {
      if (sr.points.length === 1) {
        const p = sr.points[0];
        lines.append(s('circle', { class: 'dot', cx: x(p.step), cy: y(p.value), r: 3.5, fill: sr.color }));
        continue;
      }
      let d = '', pen = false;
      for (const p of sr.points) {
        if (!Number.isFinite(p.value)) { pen = false; continue; }
        d += `${pen ? 'L' : 'M'}${x(p.step).toFixed(1)} ${y(p.value).toFixed(1)}`;
        pen = true;
      }
      lines.append(s('path', { class: 'line', d, stroke: sr.color, 'data-run': sr.run_id || '' }));
    }
    g.append(lines);
    const rule = s('line', { class: 'rule', y1: M.top, y2: H - M.bottom, visibility: 'hidden' });
    const dots = s('g', { class: 'hover-dots' });
    const overlay = s('rect', { class: 'overlay', x: M.left, y: M.top, width: W - M.left - M.right, height: H - M.top - M.bottom });
    g.append(rule, dots, overlay);
    svg.append(g);
    box.prepend(svg);

    const move = (ev) => {
      const r = svg.getBoundingClientRect();
      const px = ev.clientX - r.left, py = ev.clientY - r.top;
      const step = x.invert(px);
      let best = null;
      const hits = [];
      for (const sr of nonEmpty) {
        const i = nearestIndex(sr.points, step);
        const p = sr.points[i];
        hits.push({ sr, p });
        if (!best || Math.abs(p.step - step) < Math.abs(best.step - step)) best = p;
      }
      const at = hits.filter((hh) => hh.p.step === best.step);
      rule.setAttribute('x1', x(best.step)); rule.setAttribute('x2', x(best.step));
      rule.setAttribute('visibility', 'visible');
      dots.replaceChildren(...at.filter((hh) => Number.isFinite(hh.p.value)).map((hh) =>
        s('circle', { cx: x(hh.p.step), cy: y(hh.p.value), r: 4, fill: hh.sr.color })));
      tip.replaceChildren(h('div', { class: 'tip-head' }, `${xLabel} ${formatValue(best.step)}`),
        ...at.map((hh) => h('div', { class: 'tip-row' }, h('span', { class: 'swatch', style: { background: hh.sr.color } }),
          nonEmpty.length > 1 ? `${hh.sr.name}: ` : `${yLabel || 'value'}: `, h('b', null, formatValue(hh.p.value, 6)))));
      placeTip(tip, box, x(best.step), py);
    };
    overlay.addEventListener('pointermove', move);
    overlay.addEventListener('pointerleave', () => { tip.hidden = true; rule.setAttribute('visibility', 'hidden'); dots.replaceChildren(); });
  });
  return el;
}

/** Map a list of values to numbers: numeric as they are, else categories placed 0..n-1. */
function axisValues(values) {
  const numeric = values.every((v) => v === null || typeof v === 'number');
  if (numeric) return { numeric: true, pos: values, labels: null };
  const cats = [...new Set(values.filter((v) => v !== null).map(String))].sort();
  return { numeric: false, pos: values.map((v) => (v === null ? null : cats.indexOf(String(v)))), labels: cats };
}

/** Scatter. points: [{x, y, label, color, href}] where x/y are numbers, strings (categories) or null. */
export function scatterChart({ points, xLabel, yLabel, height = 300 }) {
  const el = h('div', { class: 'chart', 'data-kind': 'scatter' });
  const box = h('div', { class: 'chart-box', style: { height: `${height}px` } });
  const tip = tooltip();
  box.append(tip);
  el.append(box);
  const ax = axisValues(points.map((p) => p.x));
  const ay = axisValues(points.map((p) => p.y));
  const pts = points.map((p, i) => ({ ...p, px: ax.pos[i], py: ay.pos[i] })).filter((p) => p.px !== null && p.py !== null);
  if (!pts.length) {
    box.append(h('div', { class: 'state empty' }, 'None of these runs has both values.'));
    return el;
  }
  const dom = (a, vals) => (a.numeric ? padDomain(extent(vals), 0.08) : [-0.5, a.labels.length - 0.5]);
  const xDom = dom(ax, pts.map((p) => p.px));
  const yDom = dom(ay, pts.map((p) => p.py));
  const ticks = (a, d, n, vals) => (a.numeric ? integerTicks(niceTicks(d[0], d[1], n), d, vals) : a.labels.map((_, i) => i));
  const fmt = (a) => (v) => (a.numeric ? formatValue(v, 4) : String(a.labels[v]).slice(0, 14));

  onWidth(box, (W) => {
    const H = height;
    box.querySelector('svg')?.remove();
    const x = linearScale(xDom, [M.left, W - M.right]);
    const y = linearScale(yDom, [H - M.bottom, M.top]);
    const svg = s('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${yLabel} against ${xLabel}` });
    const g = s('g');
    axes(g, x, y, W, H, ticks(ax, xDom, Math.max(2, Math.floor(W / 90)), pts.map((p) => p.px)), ticks(ay, yDom, 5, pts.map((p) => p.py)), fmt(ax), fmt(ay), xLabel, yLabel);
    const marks = pts.map((p) => {
      const c = s('circle', { class: 'point', cx: x(p.px), cy: y(p.py), r: 6, fill: p.color, 'data-label': p.label });
      const show = () => {
        tip.replaceChildren(h('div', { class: 'tip-head' }, p.label),
          h('div', null, `${xLabel}: `, h('b', null, formatValue(p.x, 6))),
          h('div', null, `${yLabel}: `, h('b', null, formatValue(p.y, 6))));
        placeTip(tip, box, x(p.px), y(p.py));
      };
      c.addEventListener('pointerenter', show);
      c.addEventListener('pointerleave', () => { tip.hidden = true; });
      if (p.href) c.addEventListener('click', () => { location.hash = p.href.replace(/^#/, ''); });
      return c;
    });
    g.append(...marks);
    svg.append(g);
    box.prepend(svg);
  });
  return el;
}
