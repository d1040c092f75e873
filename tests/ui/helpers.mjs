// Shared set-up for the browser tests: Debian's Chromium driven by playwright-core.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..', '..');
export const SHOTS = path.join(HERE, 'screenshots');
export const BASE = (process.env.UI_BASE_URL || '').replace(/\/$/, '');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];

if (!BASE) throw new Error('set UI_BASE_URL to the server under test (scripts/run-ui-tests.sh does)');
fs.mkdirSync(SHOTS, { recursive: true });

/** A fresh browser profile and page at 1366x768; `httpCredentials` answers HTTP Basic prompts. */
export async function launch({ colorScheme = 'light', httpCredentials } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weir-ui-chromium-'));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1366, height: 768 }, colorScheme,
    ...(httpCredentials ? { httpCredentials } : {}),
  });
  const page = ctx.pages()[0] || await ctx.newPage();
  page.setDefaultTimeout(Number(process.env.UI_TIMEOUT_MS || 20000));
  const errors = [];
  const failed = []; // API answers >= 400, for the tests to check against what they expect
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // The browser logs every 4xx answer; those are checked through `failed` instead.
    if (m.type() === 'error' && !/^Failed to load resource/.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) failed.push({ status: r.status(), path: new URL(r.url()).pathname });
  });
  if (process.env.UI_DEBUG) {
    page.on('request', (r) => console.log('# request', r.method(), r.url()));
    page.on('framenavigated', (f) => console.log('# navigated', f.url()));
  }
  return {
    ctx, page, errors, failed,
    async close() {
      await ctx.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function shot(page, name, { fullPage = false, docs = null } = {}) {
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage });
  if (docs) {
    const dst = path.join(REPO, 'docs', 'screenshots', docs);
    fs.mkdirSync(path.dirname(dst), { recursive: true });
    fs.copyFileSync(file, dst);
  }
  return file;
}

/** Call the REST API from the test itself (to learn the expected answers). */
export async function api(method, p, body) {
  const init = { method, headers: {} };
  let url = `${BASE}/api/2.0/mlflow/${p}`;
  if (method === 'GET') url += '?' + new URLSearchParams(body || {});
  else { init.headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(body || {}); }
  const res = await fetch(url, init);
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** Names of the rows the runs table currently shows (only rendered ones, which is all when few). */
export function rowNames(page) {
  return page.$$eval('.vt-row .c.name a', (as) => as.map((a) => a.textContent));
}
