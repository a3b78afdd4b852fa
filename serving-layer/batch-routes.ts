/**
 * Batch operations over HTTP: `GET /api/v1/batch/runs` (run history) and
 * `POST /api/v1/batch/runs` (request a run now; admin only). A request goes to the batch
 * control topic; whichever scheduler holds the batch lease runs it (batch-control.ts), so any
 * serving instance can accept it and concurrent requests join one run.
 */
import { Router, json } from 'express';
import { requestBatchRun } from '../batch-layer/index.ts';
import { lastFullHour, validateCutoff } from '../batch-layer/index.ts';
import { isPlatformError } from '../shared/core/errors.ts';
import type { EventLog } from '../shared/adapters/event-log/index.ts';
import type { BatchRunRecord, BatchViewReader } from '../shared/adapters/view-store/index.ts';
import { requireAdmin } from '../shared/runtime/http/auth.ts';
import { ApiError } from '../shared/runtime/http/api-error.ts';
import { NO_QUERY, asQuery, parseInput } from '../shared/runtime/http/validate.ts';
import { batchRunBody, batchRunsQuery } from './query-schemas.ts';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/**
 * A failed run's error as users see it. The ledger keeps the error's full text, which for a
 * view-store failure holds the server's own message (ClickHouse's DB::Exception, which can
 * quote the SQL; DuckDB's, whose further lines echo it). Users get the first line, with a
 * ClickHouse server message cut down to its code (and type, when the server names it); the full
 * text is in the server log and the ledger.
 */
export function publicRunError(error: string | null): string | null {
  if (error === null) return null;
  const firstLine = error.split('\n', 1)[0] ?? '';
  // "Code: 241, e.displayText() = DB::Exception: …" (18.16) or "Code: 241. DB::Exception: … (MEMORY_LIMIT_EXCEEDED) (version …)".
  const server = /Code: (\d+)[.,] (?:e\.displayText\(\) = )?DB::Exception\b/.exec(firstLine);
  if (server === null) return firstLine;
  const type = /\(([A-Z][A-Z0-9_]{2,})\)(?: \(version [^)]*\))?\.?\s*$/.exec(error.trimEnd())?.[1];
  const before = firstLine.slice(0, server.index).trimEnd();
  return `${before === '' ? 'ClickHouse error:' : before} code ${server[1]}${type === undefined ? '' : ` (${type})`}; the full message is in the server log`;
}

export function runBody(run: BatchRunRecord): unknown {
  return {
    ...run,
    error: publicRunError(run.error),
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
    const { cutoff, full } = parseInput(batchRunBody, req.body ?? {});
    const t = now();
    if (cutoff !== undefined) {
      try {
        validateCutoff(cutoff, t);
      } catch (err) {
        if (isPlatformError(err)) throw new ApiError(400, 'PV_QUERY_INVALID', err.message, [{ field: 'cutoff', message: err.message }]);
        throw err;
      }
    }
    // A run asked for now is exact through the last full hour, as `npm run batch -- --now` (the
    // views are built per hour); the nightly run's default is the start of the day.
    const cutoffTime = cutoff ?? lastFullHour(t);
    const request = await requestBatchRun(controlLog, { cutoffTime, ...(full === undefined ? {} : { full }) });
    res.status(202).json({ status: 'requested', requestId: request.requestId, cutoff: new Date(cutoffTime).toISOString(), runs: '/api/v1/batch/runs' });
  });

  return router;
}
