// Fetching metric series for charts: Weir's min/max downsampling endpoint first, MLflow's
// get-history-bulk-interval when that answers 404, and full histories bucketed on the client
// when even that is missing.
import { ApiError, mlflow, weir } from './api.js';
import { seriesFromBulkInterval, seriesFromHistory, seriesFromWeir } from './lib/downsample.js';

let weirDownsample = true; // set false after the first 404, so we don't ask again
let bulkInterval = true;
let probing = null; // the first request in flight, so that concurrent charts wait for its answer

const BULK_MAX = 2500; // MLflow's cap on max_results per run
const BULK_RUNS = 100; // MLflow's cap on run_ids per request

/** Series for `key` for each of `runIds` (same order), each at most about `maxPoints` points. */
export async function fetchSeries(runIds, key, maxPoints = 1000) {
  if (!runIds.length) return [];
  if (probing) await probing.catch(() => {});
  else if (weirDownsample) {
    probing = fetchSeriesOnce(runIds, key, maxPoints);
    return probing;
  }
  return fetchSeriesOnce(runIds, key, maxPoints);
}

async function fetchSeriesOnce(runIds, key, maxPoints) {
  if (weirDownsample) {
    try {
      const body = await weir('GET', 'metrics/downsample', { run_ids: runIds, metric_key: key, max_points: maxPoints });
      return seriesFromWeir(body, runIds, key);
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 404) throw e;
      weirDownsample = false;
    }
  }
  if (bulkInterval) {
    try {
      const out = [];
      const max = Math.min(maxPoints, BULK_MAX);
      for (let i = 0; i < runIds.length; i += BULK_RUNS) {
        const ids = runIds.slice(i, i + BULK_RUNS);
        const body = await mlflow('GET', 'metrics/get-history-bulk-interval', { run_ids: ids, metric_key: key, max_results: max });
        out.push(...seriesFromBulkInterval(body, ids, key, max));
      }
      return out;
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 404) throw e;
      bulkInterval = false;
    }
  }
  return Promise.all(runIds.map(async (id) => {
    const body = await mlflow('GET', 'metrics/get-history', { run_id: id, run_uuid: id, metric_key: key, max_results: 25000 });
    return seriesFromHistory(id, key, body.metrics, maxPoints);
  }));
}
