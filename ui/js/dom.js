// Tiny DOM helpers: element builders and shared bits of page furniture.

const SVG_NS = 'http://www.w3.org/2000/svg';

function setAttrs(el, attrs, svg) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.setAttribute('class', v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (!svg && (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected')) el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
}

function add(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

/** h('a', {href: '#/'}, 'text', child, ...) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs, false);
  add(el, children);
  return el;
}

/** An SVG element. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs, true);
  add(el, children);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function loading(text = 'Loading…') {
  return h('div', { class: 'state loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), text);
}

export function empty(text) {
  return h('div', { class: 'state empty' }, text);
}

export function errorBox(err, prefix) {
  const msg = err && err.message ? err.message : String(err);
  return h('div', { class: 'state error', role: 'alert' }, prefix ? `${prefix}: ` : '', msg);
}

/** A page header: breadcrumbs then a title and optional actions. */
export function pageHeader(crumbs, title, ...actions) {
  return h('header', { class: 'page-head' },
    crumbs && crumbs.length ? h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumbs' },
      crumbs.map(([label, href], i) => [i ? h('span', { class: 'sep', 'aria-hidden': 'true' }, '›') : null,
        href ? h('a', { href }, label) : h('span', null, label)])) : null,
    h('div', { class: 'title-row' }, h('h1', null, title), actions.length ? h('div', { class: 'actions' }, actions) : null));
}

/** A two-column key/value table. rows: [[key, valueNodeOrText], ...] */
export function kvTable(rows, { caption, emptyText = 'None', className = '' } = {}) {
  if (!rows.length) return h('div', { class: 'kv-empty muted' }, emptyText);
  return h('table', { class: `kv ${className}` },
    caption ? h('caption', null, caption) : null,
    h('tbody', null, rows.map(([k, v]) => h('tr', null, h('th', { scope: 'row' }, k), h('td', null, v)))));
}

export function section(title, ...body) {
  return h('section', { class: 'card' }, h('h2', null, title), body);
}

export function chip(text, cls = '') {
  return h('span', { class: `chip ${cls}` }, text);
}

/** A modal dialog with a form. fields: [{name,label,value,type,options,required}]; onSubmit(values) may throw to show an error. */
export function formDialog({ title, fields, submitLabel = 'Save', onSubmit, danger = false, message }) {
  const err = h('p', { class: 'dialog-error', role: 'alert', hidden: true });
  // A field is a text input, a password (type: 'password') or a choice (options: [[value, label]]).
  const inputs = (fields || []).map((f) => h('label', { class: 'field' }, f.label,
    f.options
      ? h('select', { name: f.name }, f.options.map(([v, l]) => h('option', { value: v, selected: v === f.value }, l)))
      : h('input', { name: f.name, type: f.type || 'text', value: f.value || '', required: f.required !== false,
        autocomplete: f.type === 'password' ? 'new-password' : 'off', spellcheck: 'false' })));
  const cancel = h('button', { type: 'button', class: 'btn' }, 'Cancel');
  const submit = h('button', { type: 'submit', class: `btn ${danger ? 'danger' : 'primary'}` }, submitLabel);
  const form = h('form', { method: 'dialog' }, h('h2', null, title), message ? h('p', null, message) : null,
    inputs, err, h('div', { class: 'dialog-actions' }, cancel, submit));
  const dlg = h('dialog', { class: 'dialog' }, form);
  cancel.addEventListener('click', () => dlg.close());
  dlg.addEventListener('close', () => dlg.remove());
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const values = Object.fromEntries(new FormData(form));
    submit.disabled = true;
    err.hidden = true;
    try {
      await onSubmit(values);
      dlg.close();
    } catch (e) {
      err.textContent = e.message || String(e);
      err.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
  document.body.append(dlg);
  dlg.showModal();
  const first = dlg.querySelector('input');
  if (first) { first.focus(); first.select(); }
  return dlg;
}

/** Colors for series, readable on light and dark backgrounds. */
export const PALETTE = ['#2f7ed8', '#e4572e', '#17a673', '#a05bd6', '#e0a100', '#00a6b8', '#d6457a', '#6b8e23', '#8c6d4f', '#5c6bc0'];
export const color = (i) => PALETTE[i % PALETTE.length];
