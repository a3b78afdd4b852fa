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
import type { EventLog } from '../shared/adapters/event-log/index.ts';
import type { BatchRunRecord, BatchViewReader } from '../shared/adapters/view-store/index.ts';
import { requireAdmin } from '../shared/runtime/http/auth.ts';
import { ApiError } from '../shared/runtime/http/api-error.ts';
import { NO_QUERY, asQuery, parseInput } from '../shared/runtime/http/validate.ts';
import { batchRunBody, batchRunsQuery } from './query-schemas.ts';

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
    const { limit } = parseInput(asQuery(batchRunsQuery), req.query);
    const runs = await store.batchRuns(limit);
    res.json({ runs: runs.map(runBody) });
  });

  router.post('/api/v1/batch/runs', requireAdmin(adminApiKey), json({ limit: 10_000, strict: false, type: () => true }), async (req, res) => {
    parseInput(asQuery(NO_QUERY), req.query);
    const { cutoff: cutoffTime, full } = parseInput(batchRunBody, req.body ?? {});
    if (cutoffTime !== undefined) {
      try {
        validateCutoff(cutoffTime, now());
      } catch (err) {
        if (isPlatformError(err)) throw new ApiError(400, 'PV_QUERY_INVALID', err.message, [{ field: 'cutoff', message: err.message }]);
        throw err;
      }
    }
    const request = await requestBatchRun(controlLog, {
      ...(cutoffTime === undefined ? {} : { cutoffTime }),
      ...(full === undefined ? {} : { full }),
    });
    res.status(202).json({ status: 'requested', requestId: request.requestId, runs: '/api/v1/batch/runs' });
  });

  return router;
}
