/**
 * Batch operations over HTTP: `GET /api/v1/batch/runs` (run history) and
 * `POST /api/v1/batch/runs` (request a run now; admin only). A request goes to the batch
 * control topic; whichever scheduler holds the batch lease runs it (batch-control.ts), so any
 * serving instance can accept it and concurrent requests join one run.
 */
import { Router, json } from 'express';
import { requestBatchRun } from '../batch-layer/index.ts';
import { validateCutoff } from '../batch-layer/index.ts';
import { isPlatformError } from '../shared/core/errors.ts';
import { parseTimestamp } from '../shared/core/page-view.ts';
import type { EventLog } from '../shared/adapters/event-log/index.ts';
import type { BatchRunRecord, BatchViewReader } from '../shared/adapters/view-store/index.ts';
import { requireAdmin } from '../shared/runtime/http/auth.ts';
import { ApiError } from '../shared/runtime/http/api-error.ts';
import { parseWholeNumber } from './query-params.ts';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function runBody(run: BatchRunRecord): unknown {
  return {
    ...run,
    startedAt: iso(run.startedAt),
    finishedAt: iso(run.finishedAt),
    cutoffTime: iso(run.cutoffTime),
    durationMs: run.finishedAt === null ? null : run.finishedAt - run.startedAt,
  };
}

export function batchRouter(store: BatchViewReader, controlLog: EventLog, adminApiKey: string | null, now: () => number): Router {
  const router = Router();

  router.get('/api/v1/batch/runs', async (req, res) => {
    const limit = parseWholeNumber(req.query as Record<string, unknown>, 'limit', 20, 1, 1000);
    const runs = await store.batchRuns(limit);
    res.json({ runs: runs.map(runBody) });
  });

  router.post('/api/v1/batch/runs', requireAdmin(adminApiKey), json({ limit: 10_000, strict: false, type: () => true }), async (req, res) => {
    const body: unknown = req.body ?? {};
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new ApiError(400, 'PV_QUERY_INVALID', 'the body must be a JSON object: {"cutoff"?: ISO-8601 or epoch ms, "full"?: boolean}');
    }
    const { cutoff, full, ...rest } = body as Record<string, unknown>;
    if (Object.keys(rest).length > 0) {
      throw new ApiError(400, 'PV_QUERY_INVALID', `unknown field(s): ${Object.keys(rest).join(', ')}; allowed: cutoff, full`);
    }
    if (full !== undefined && typeof full !== 'boolean') throw new ApiError(400, 'PV_QUERY_INVALID', "'full' must be true or false");
    let cutoffTime: number | undefined;
    if (cutoff !== undefined) {
      const parsed = parseTimestamp(cutoff);
      if (typeof parsed === 'string') throw new ApiError(400, 'PV_QUERY_INVALID', `'cutoff' ${parsed}`);
      try {
        validateCutoff(parsed, now());
      } catch (err) {
        if (isPlatformError(err)) throw new ApiError(400, 'PV_QUERY_INVALID', err.message);
        throw err;
      }
      cutoffTime = parsed;
    }
    const request = await requestBatchRun(controlLog, {
      ...(cutoffTime === undefined ? {} : { cutoffTime }),
      ...(full === undefined ? {} : { full }),
    });
    res.status(202).json({ status: 'requested', requestId: request.requestId, runs: '/api/v1/batch/runs' });
  });

  return router;
}
