// Artifact tree (directories load when opened) with a preview pane for text, JSON and images.
import { h, clear, loading, errorBox, empty } from './dom.js';
import { fetchText } from './api.js';
import { formatBytes } from './lib/format.js';

const IMAGE = /\.(png|jpe?g|gif|svg|webp|bmp|ico)$/i;
const JSON_EXT = /\.(json|jsonl|ipynb)$/i;
const TEXT = /(\.(txt|log|md|markdown|ya?ml|csv|tsv|py|r|sh|cfg|ini|toml|xml|html?|js|ts|sql|properties|conf|out|err|rst)$)|(^|\/)(MLmodel|Dockerfile|Makefile|LICENSE|README)$/i;
const PREVIEW_LIMIT = 512 * 1024;

export function previewKind(path) {
  if (IMAGE.test(path)) return 'image';
  if (JSON_EXT.test(path)) return 'json';
  if (TEXT.test(path)) return 'text';
  return 'other';
}

const base = (p) => p.split('/').pop();

/**
 * list(path) -> Promise<[{path, is_dir, file_size}]> (paths relative to the root)
 * fileUrl(path) -> URL of the file's bytes
 */
export function artifactBrowser({ list, fileUrl, select, emptyText = 'No artifacts recorded.' }) {
  const tree = h('ul', { class: 'art-tree', role: 'tree', 'aria-label': 'Artifacts' });
  const preview = h('div', { class: 'art-preview', 'aria-live': 'polite' },
    h('div', { class: 'state empty' }, 'Select a file to preview it.'));
  const el = h('div', { class: 'artifacts' }, h('div', { class: 'art-tree-wrap' }, tree), preview);
  let selected = null;

  async function fill(ul, path) {
    ul.replaceChildren(h('li', { class: 'muted' }, loading()));
    let files;
    try {
      files = await list(path);
    } catch (e) {
      ul.replaceChildren(h('li', null, errorBox(e, 'Could not list artifacts')));
      return [];
    }
    files = [...files].sort((a, b) => (b.is_dir - a.is_dir) || a.path.localeCompare(b.path));
    if (!files.length) {
      ul.replaceChildren(path ? h('li', { class: 'muted' }, '(empty)') : h('li', null, empty(emptyText)));
      return files;
    }
    ul.replaceChildren(...files.map((f) => node(f)));
    return files;
  }

  function node(f) {
    const li = h('li', { role: 'treeitem', 'aria-expanded': f.is_dir ? 'false' : null });
    const btn = h('button', { type: 'button', class: `art-node ${f.is_dir ? 'dir' : 'file'}`, 'data-path': f.path, title: f.path },
      h('span', { class: 'icon', 'aria-hidden': 'true' }, f.is_dir ? '▸' : '·'), base(f.path),
      !f.is_dir && f.file_size !== undefined ? h('span', { class: 'size' }, formatBytes(f.file_size)) : null);
    li.append(btn);
    if (f.is_dir) {
      const sub = h('ul', { role: 'group', hidden: true });
      li.append(sub);
      let loaded = false;
      btn.addEventListener('click', async () => {
        const open = sub.hidden;
        sub.hidden = !open;
        li.setAttribute('aria-expanded', String(open));
        btn.querySelector('.icon').textContent = open ? '▾' : '▸';
        if (open && !loaded) { loaded = true; await fill(sub, f.path); }
      });
    } else {
      btn.addEventListener('click', () => show(f, btn));
    }
    return li;
  }

  async function show(f, btn) {
    if (selected) selected.classList.remove('selected');
    selected = btn;
    btn.classList.add('selected');
    const url = fileUrl(f.path);
    const kind = previewKind(f.path);
    const head = h('div', { class: 'preview-head' }, h('code', { class: 'path' }, f.path),
      f.file_size !== undefined ? h('span', { class: 'muted' }, formatBytes(f.file_size)) : null,
      h('a', { class: 'btn small', href: url, download: base(f.path) }, 'Download'));
    const body = h('div', { class: 'preview-body' });
    preview.replaceChildren(head, body);
    if (kind === 'image') {
      body.append(h('img', { src: url, alt: f.path, class: 'preview-img' }));
      return;
    }
    if (kind === 'other') {
      body.append(h('div', { class: 'state empty' }, 'No preview for this kind of file. Use Download.'));
      return;
    }
    body.append(loading('Loading file…'));
    try {
      const { text, truncated } = await fetchText(url, PREVIEW_LIMIT);
      if (selected !== btn) return;
      let shown = text;
      if (kind === 'json' && !truncated) {
        try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch { /* show as it is */ }
      }
      clear(body).append(h('pre', { class: `preview-text ${kind}` }, shown));
      if (truncated) body.append(h('p', { class: 'muted' }, `Showing the first ${formatBytes(PREVIEW_LIMIT)}; download for the rest.`));
    } catch (e) {
      clear(body).append(errorBox(e, 'Could not load the file'));
    }
  }

  fill(tree, '').then(async (files) => {
    if (!select) return;
    const f = files.find((x) => x.path === select);
    const btn = f && tree.querySelector(`[data-path="${CSS.escape(select)}"]`);
    if (btn) show(f, btn);
  });
  return el;
}
