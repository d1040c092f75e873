// The runs table: a virtual-scrolling grid that only puts the visible rows in the document, so
// tens of thousands of runs stay fast. Keyboard: arrows/PageUp/PageDown/Home/End move the focused
// row, Space selects it, Enter opens it. Shift+click on checkboxes selects a range.
import { escapeHtml } from './lib/format.js';

export const ROW_H = 32;
const HEAD_H = 36;
const OVERSCAN = 8;

export class RunsTable {
  /**
   * opts: {rowHref(row), onOpen(row), onSort(colId), onSelect(selectedIds), onNeedMore()}
   * columns: [{id, label, title, width, get(row) -> string, sortable, sticky}]
   */
  constructor(opts) {
    this.opts = opts;
    this.rows = [];
    this.columns = [];
    this.sort = null;
    this.selected = new Set();
    this.focus = 0;
    this.lastClicked = -1;
    this.emptyText = 'No runs.';
    this.hasMore = false;
    this.rendered = [-1, -1];

    this.el = document.createElement('div');
    this.el.className = 'vt';
    this.el.tabIndex = 0;
    this.el.setAttribute('role', 'grid');
    this.el.setAttribute('aria-multiselectable', 'true');
    this.el.setAttribute('aria-label', 'Runs');
    this.head = document.createElement('div');
    this.head.className = 'vt-head';
    this.head.setAttribute('role', 'row');
    this.body = document.createElement('div');
    this.body.className = 'vt-body';
    this.rowsEl = document.createElement('div');
    this.rowsEl.className = 'vt-rows';
    this.emptyEl = document.createElement('div');
    this.emptyEl.className = 'state empty vt-empty';
    this.body.append(this.rowsEl, this.emptyEl);
    this.el.append(this.head, this.body);

    let raf = 0;
    this.el.addEventListener('scroll', () => {
      if (!raf) raf = requestAnimationFrame(() => { raf = 0; this.renderRows(); });
    }, { passive: true });
    this.el.addEventListener('keydown', (e) => this.onKey(e));
    this.rowsEl.addEventListener('click', (e) => this.onClick(e));
    this.head.addEventListener('click', (e) => {
      const cell = e.target.closest('[data-col]');
      if (cell && cell.dataset.sortable === '1') this.opts.onSort(cell.dataset.col);
      if (e.target.matches('input.select-all')) this.toggleAll(e.target.checked);
    });
    this.ro = new ResizeObserver(() => this.renderRows(true));
    this.ro.observe(this.el);
  }

  setColumns(columns) {
    this.columns = columns;
    // The last column takes any spare width, so rows always span the table.
    const tpl = ['36px', ...columns.map((c, i) => (i === columns.length - 1 ? `minmax(${c.width || 130}px, 1fr)` : `${c.width || 130}px`))].join(' ');
    this.el.style.setProperty('--vt-cols', tpl);
    this.el.style.setProperty('--vt-width', `${36 + columns.reduce((a, c) => a + (c.width || 130), 0)}px`);
    this.el.setAttribute('aria-colcount', String(columns.length + 1));
    this.renderHead();
    this.renderRows(true);
  }

  setSort(sort) {
    this.sort = sort;
    this.renderHead();
  }

  setRows(rows, { hasMore = false, keepScroll = false } = {}) {
    this.rows = rows;
    this.hasMore = hasMore;
    const ids = new Set(rows.map((r) => r.id));
    for (const id of this.selected) if (!ids.has(id)) this.selected.delete(id);
    if (!keepScroll) { this.el.scrollTop = 0; this.focus = 0; }
    this.focus = Math.min(this.focus, Math.max(0, rows.length - 1));
    this.el.setAttribute('aria-rowcount', String(rows.length + 1));
    this.body.style.height = `${rows.length * ROW_H}px`;
    this.emptyEl.hidden = rows.length > 0;
    this.emptyEl.textContent = this.emptyText;
    this.renderHead();
    this.renderRows(true);
  }

  setEmptyText(t) {
    this.emptyText = t;
    this.emptyEl.textContent = t;
  }

  renderHead() {
    const allSel = this.rows.length > 0 && this.selected.size === this.rows.length;
    let html = `<div class="c sel sticky0" role="columnheader"><input type="checkbox" class="select-all" aria-label="Select all loaded runs" ${allSel ? 'checked' : ''}></div>`;
    for (const c of this.columns) {
      const sorted = this.sort && this.sort.id === c.id;
      const aria = sorted ? (this.sort.ascending ? 'ascending' : 'descending') : 'none';
      const arrow = sorted ? (this.sort.ascending ? '▲' : '▼') : '';
      html += `<div class="c h ${c.cls || ''}${c.sticky ? ' sticky1' : ''}${c.sortable ? ' sortable' : ''}" role="columnheader" aria-sort="${aria}" data-col="${escapeHtml(c.id)}" data-sortable="${c.sortable ? 1 : 0}" title="${escapeHtml(c.title || c.label)}${c.sortable ? ' (click to sort)' : ''}">`
        + `${c.group ? `<span class="grp">${escapeHtml(c.group)}</span>` : ''}<span class="lbl">${escapeHtml(c.label)}</span><span class="arrow" aria-hidden="true">${arrow}</span></div>`;
    }
    this.head.innerHTML = html;
  }

  viewport() {
    const top = this.el.scrollTop;
    const hgt = Math.max(ROW_H, this.el.clientHeight - HEAD_H);
    return { top, hgt, first: Math.floor(top / ROW_H), count: Math.ceil(hgt / ROW_H) };
  }

  renderRows(force = false) {
    const n = this.rows.length;
    const { first, count } = this.viewport();
    const start = Math.max(0, first - OVERSCAN);
    const end = Math.min(n, first + count + OVERSCAN);
    if (!force && start === this.rendered[0] && end === this.rendered[1]) return;
    const t0 = performance.now();
    this.rendered = [start, end];
    let html = '';
    for (let i = start; i < end; i++) html += this.rowHtml(i);
    this.rowsEl.style.transform = `translateY(${start * ROW_H}px)`;
    this.rowsEl.innerHTML = html;
    this.updateActive();
    this.lastRenderMs = performance.now() - t0; // read by the scale test
    this.el.dataset.renderMs = this.lastRenderMs.toFixed(2);
    if (this.hasMore && end >= n - 3 * count && this.opts.onNeedMore) this.opts.onNeedMore();
  }

  rowHtml(i) {
    const r = this.rows[i];
    const sel = this.selected.has(r.id);
    let html = `<div class="vt-row${sel ? ' selected' : ''}${i === this.focus ? ' focused' : ''}" role="row" id="vtr-${i}" data-i="${i}" aria-rowindex="${i + 2}" aria-selected="${sel}">`
      + `<div class="c sel sticky0" role="gridcell"><input type="checkbox" tabindex="-1" aria-label="Select ${escapeHtml(r.name)}" ${sel ? 'checked' : ''}></div>`;
    for (const c of this.columns) {
      const v = c.get(r);
      if (c.link) {
        html += `<div class="c ${c.cls || ''}${c.sticky ? ' sticky1' : ''}" role="gridcell"><a tabindex="-1" href="${escapeHtml(this.opts.rowHref(r))}" title="${escapeHtml(v)}">${escapeHtml(v)}</a></div>`;
      } else {
        html += `<div class="c ${c.cls || ''}${c.sticky ? ' sticky1' : ''}" role="gridcell" title="${escapeHtml(v)}">${escapeHtml(v)}</div>`;
      }
    }
    return html + '</div>';
  }

  updateActive() {
    for (const el of this.rowsEl.querySelectorAll('.vt-row.focused')) el.classList.remove('focused');
    const el = this.rowsEl.querySelector(`#vtr-${this.focus}`);
    if (el && this.rows.length) {
      el.classList.add('focused');
      this.el.setAttribute('aria-activedescendant', el.id);
    } else {
      this.el.removeAttribute('aria-activedescendant');
    }
  }

  moveFocus(i) {
    const n = this.rows.length;
    if (!n) return;
    this.focus = Math.max(0, Math.min(n - 1, i));
    const { top, hgt } = this.viewport();
    const y = this.focus * ROW_H;
    if (y < top) this.el.scrollTop = y;
    else if (y + ROW_H > top + hgt) this.el.scrollTop = y + ROW_H - hgt;
    this.renderRows();
    this.updateActive();
  }

  toggle(i, range = false) {
    const r = this.rows[i];
    if (!r) return;
    const on = !this.selected.has(r.id);
    if (range && this.lastClicked >= 0) {
      const [a, b] = [Math.min(this.lastClicked, i), Math.max(this.lastClicked, i)];
      for (let k = a; k <= b; k++) on ? this.selected.add(this.rows[k].id) : this.selected.delete(this.rows[k].id);
    } else {
      on ? this.selected.add(r.id) : this.selected.delete(r.id);
    }
    this.lastClicked = i;
    this.renderRows(true);
    this.renderHead();
    this.opts.onSelect && this.opts.onSelect([...this.selected]);
  }

  toggleAll(on) {
    this.selected = on ? new Set(this.rows.map((r) => r.id)) : new Set();
    this.renderRows(true);
    this.renderHead();
    this.opts.onSelect && this.opts.onSelect([...this.selected]);
  }

  clearSelection() { this.toggleAll(false); }

  onClick(e) {
    const rowEl = e.target.closest('.vt-row');
    if (!rowEl) return;
    const i = Number(rowEl.dataset.i);
    if (e.target.matches('input[type=checkbox]')) {
      e.preventDefault();
      this.focus = i;
      this.toggle(i, e.shiftKey);
      this.el.focus({ preventScroll: true });
      return;
    }
    if (e.target.closest('a')) return;
    this.moveFocus(i);
    this.el.focus({ preventScroll: true });
  }

  onKey(e) {
    if (e.target !== this.el) return;
    const { count } = this.viewport();
    const keys = {
      ArrowDown: () => this.moveFocus(this.focus + 1),
      ArrowUp: () => this.moveFocus(this.focus - 1),
      PageDown: () => this.moveFocus(this.focus + count - 1),
      PageUp: () => this.moveFocus(this.focus - count + 1),
      Home: () => this.moveFocus(0),
      End: () => this.moveFocus(this.rows.length - 1),
      ' ': () => this.toggle(this.focus, e.shiftKey),
      Enter: () => this.rows[this.focus] && this.opts.onOpen(this.rows[this.focus]),
    };
    const f = keys[e.key];
    if (f) { e.preventDefault(); f(); }
  }
}
