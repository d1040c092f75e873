// Scale check of the runs table: an experiment with many runs (tests/ui/populate_scale.py,
// 10,000 runs x 20 columns by default). Measures and prints time-to-interactive; asserts only
// that the table stays virtual (few rows in the document), never a time.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BASE, SHOTS, api, launch, shot } from './helpers.mjs';

const EXP = process.env.UI_SCALE_EXPERIMENT || 'scale-10k';
const EXPECTED = Number(process.env.UI_SCALE_RUNS || 10000);
let b, page, exp;

before(async () => {
  try {
    exp = (await api('GET', 'experiments/get-by-name', { experiment_name: EXP })).experiment;
  } catch { exp = null; }
  b = await launch();
  page = b.page;
});
after(async () => { if (b) await b.close(); });

test(`runs table with ${EXPECTED} runs: time-to-interactive`, { skip: EXPECTED === 0 }, async (t) => {
  if (!exp) return t.skip(`no experiment ${EXP}; run tests/ui/populate_scale.py`);
  const url = `${BASE}/#/experiments/${exp.experiment_id}`;
  const results = { runs: EXPECTED };

  // 1. Cold load: a fresh page load straight onto the experiment (module loading + API + render).
  const cold = [];
  for (let i = 0; i < 3; i++) {
    await page.goto(`${BASE}/#/models`);
    await page.goto('about:blank');
    await page.goto(url);
    await page.waitForSelector('.vt[data-state=ready]', { timeout: 60000 });
    cold.push(await page.evaluate(() => ({ tti: performance.getEntriesByName('weir:runs-interactive')[0].startTime, ...window.__weirRunsTiming })));
  }
  results.cold_load_tti_ms = cold.map((c) => Math.round(c.tti));
  results.cold_load_api_ms = cold.map((c) => Math.round(c.request_ms));
  results.cold_load_client_ms = cold.map((c) => Math.round(c.client_ms));
  const cols = await page.locator('.vt-head .c').count();
  results.columns = cols - 1; // without the checkbox column
  assert.ok(results.columns >= 24, `4 run columns + 20 data columns, got ${results.columns}`);

  // 2. In-app navigation from the experiments list (the usual way there).
  const nav = [];
  for (let i = 0; i < 3; i++) {
    await page.goto(`${BASE}/#/`);
    await page.getByRole('link', { name: EXP, exact: true }).waitFor();
    // Click inside the page so that the clock starts at the click itself, then stop it when the
    // table is drawn with its handlers attached (the page records that moment).
    const t0 = await page.evaluate((name) => {
      window.__weirRunsTiming = null;
      const a = [...document.querySelectorAll('a')].find((x) => x.textContent === name);
      const t = performance.now();
      a.click();
      return t;
    }, EXP);
    await page.waitForSelector('.vt[data-state=ready]', { timeout: 60000 });
    // Interactive: the next keypress is handled (ArrowDown moves the focus).
    await page.locator('.vt').focus();
    await page.keyboard.press('ArrowDown');
    await page.waitForSelector('.vt-row.focused[data-i="1"]');
    nav.push(await page.evaluate((t) => ({ ...window.__weirRunsTiming, tti: window.__weirRunsTiming.ready_at - t }), t0));
  }
  results.in_app_tti_ms = nav.map((c) => Math.round(c.tti));
  results.in_app_api_ms = nav.map((c) => Math.round(c.request_ms));
  results.in_app_client_ms = nav.map((c) => Math.round(c.client_ms));

  // 3. The UI alone: the same page with the API answers served instantly from memory (recorded
  //    from the server above), so only module loading, rendering and our own code are timed.
  const canned = new Map();
  for (const [route, body] of [['experiments/get', null], ['runs/search', null]]) canned.set(route, body);
  canned.set('experiments/get', JSON.stringify(await api('GET', 'experiments/get', { experiment_id: exp.experiment_id })));
  canned.set('runs/search', JSON.stringify(await api('POST', 'runs/search', {
    experiment_ids: [exp.experiment_id], max_results: 200, order_by: ['attributes.start_time DESC'], run_view_type: 'ACTIVE_ONLY', filter: '',
  })));
  await page.route(/\/ajax-api\/2\.0\/mlflow\/(experiments\/get|runs\/search)/, (r) => {
    const key = r.request().url().includes('runs/search') ? 'runs/search' : 'experiments/get';
    return r.fulfill({ status: 200, contentType: 'application/json', body: canned.get(key) });
  });
  const uiOnly = [];
  for (let i = 0; i < 3; i++) {
    await page.goto('about:blank');
    await page.goto(url);
    await page.waitForSelector('.vt[data-state=ready]');
    uiOnly.push(Math.round(await page.evaluate(() => performance.getEntriesByName('weir:runs-interactive')[0].startTime)));
  }
  await page.unrouteAll();
  results.ui_only_cold_tti_ms = uiOnly;
  await page.goto(url);
  await page.waitForSelector('.vt[data-state=ready]', { timeout: 60000 });

  // 4. Load all runs into the table, then check it stays virtual and responsive.
  const t1 = await page.evaluate(() => performance.now());
  await page.getByRole('button', { name: 'Load all' }).click();
  await page.waitForSelector('.vt[data-loaded=all]', { timeout: 300000 });
  results.load_all_ms = Math.round(await page.evaluate((t) => performance.now() - t, t1));
  const status = await page.locator('.status-text').textContent();
  assert.match(status, new RegExp(`^${EXPECTED.toLocaleString('en-US')} runs`), status);
  const domRows = await page.locator('.vt-row').count();
  results.rows_in_dom = domRows;
  assert.ok(domRows < 120, `only visible rows are rendered (${domRows})`);

  // Keyboard and scroll with everything loaded: End, then jumps; time each render.
  results.end_key_ms = Math.round(await page.evaluate(async () => {
    const vt = document.querySelector('.vt');
    vt.focus();
    const t = performance.now();
    vt.dispatchEvent(new KeyboardEvent('keydown', { key: 'End', bubbles: true }));
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    return performance.now() - t;
  }));
  assert.equal(await page.locator('.vt-row.focused').getAttribute('data-i'), String(EXPECTED - 1));
  results.scroll_frame_ms = await page.evaluate(async () => {
    const vt = document.querySelector('.vt');
    const times = [];
    for (let i = 0; i < 20; i++) {
      vt.scrollTop = ((i * 7919) % 20) / 20 * vt.scrollHeight;
      await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
      times.push(Number(vt.dataset.renderMs)); // time to build the visible rows after a jump
    }
    times.sort((a, c) => a - c);
    return { median: Math.round(times[10] * 100) / 100, max: Math.round(times[19] * 100) / 100 };
  });
  await page.evaluate(() => { document.querySelector('.vt').scrollTop = 0; });
  await shot(page, 'runs-table-10k');

  // Sorting 10k runs on the server and re-rendering.
  const t2 = await page.evaluate(() => performance.now());
  await page.locator('.vt-head [data-col="metrics.accuracy"]').click();
  // The hash changes at once; the reload follows on hashchange: wait for a search finished after t2.
  await page.waitForFunction((t) => location.hash.includes('sort=metrics.accuracy')
    && document.querySelector('.vt').dataset.state === 'ready'
    && (window.__weirRunsTiming?.ready_at ?? 0) > t, t2);
  results.sort_ms = Math.round(await page.evaluate((t) => performance.now() - t, t2));

  fs.writeFileSync(path.join(SHOTS, 'scale-results.json'), JSON.stringify(results, null, 2));
  const median = (xs) => [...xs].sort((a, c) => a - c)[Math.floor(xs.length / 2)];
  console.log(`# runs table, ${EXPECTED} runs x ${results.columns} columns:`);
  const ms = (k) => `${median(results[k])} ms median (${results[k].join(', ')})`;
  console.log(`#   time-to-interactive, cold page load: ${ms('cold_load_tti_ms')}; of which runs/search answer: ${ms('cold_load_api_ms')}, UI work after it: ${ms('cold_load_client_ms')}`);
  console.log(`#   time-to-interactive, in-app navigation: ${ms('in_app_tti_ms')}; of which runs/search answer: ${ms('in_app_api_ms')}, UI work after it: ${ms('in_app_client_ms')}`);
  console.log(`#   time-to-interactive with the API answering instantly (the UI alone, cold page load): ${ms('ui_only_cold_tti_ms')}`);
  console.log(`#   load all ${EXPECTED} runs: ${results.load_all_ms} ms; rows in DOM: ${domRows}; End key to painted: ${results.end_key_ms} ms; rows rebuilt per scroll jump: ${results.scroll_frame_ms.median} ms median, ${results.scroll_frame_ms.max} ms max; re-sort on the server: ${results.sort_ms} ms`);
  assert.deepEqual(b.errors, []);
});
