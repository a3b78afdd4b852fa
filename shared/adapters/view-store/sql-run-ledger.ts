/**
 * The run ledger in SQL, for both engines: one appended row per state change of a batch run;
 * the latest successful run is the published boundary. Dropping old versions of the batch
 * views is engine-specific (whole partitions on ClickHouse, rows on DuckDB) and lives in the
 * engines' stores, over BATCH_VIEW_TABLES.
 */
import { joinSql, type SqlFragment } from '../sql-escape.ts';
import { raw, type SqlContext } from './sql-context.ts';
import type { BatchBoundary, BatchRunRecord, BatchRunStatus, BatchViewReader, BatchViewWriter, RunDivergence } from './view-store.ts';

/** Tables holding one version of the batch views per run (batch_id). */
export const BATCH_VIEW_TABLES = ['batch_page_hour', 'batch_page_day', 'batch_site_hour', 'batch_site_day', 'batch_visitors_day', 'batch_session_hour', 'batch_session_day'] as const;

/** The ledger columns that change with a run's state; a run's latest row holds their values. */
const RUN_STATE_COLUMNS = ['status', 'finished_at', 'cutoff_time', 'end_offsets', 'rows_read', 'rows_invalid', 'rows_duplicate', 'rows_counted', 'error', 'divergence'];

export class SqlRunLedger implements Pick<BatchViewReader, 'latestBoundary' | 'batchRuns'>, Pick<BatchViewWriter, 'recordBatchRun'> {
  constructor(private readonly ctx: SqlContext) {}

  async recordBatchRun(run: BatchRunRecord): Promise<void> {
    await this.ctx.insert('batch_runs', [
      {
        batch_id: run.batchId,
        status: run.status,
        started_at: run.startedAt,
        finished_at: run.finishedAt ?? 0,
        cutoff_time: run.cutoffTime,
        end_offsets: JSON.stringify(run.endOffsets),
        rows_read: run.rowsRead,
        rows_invalid: run.rowsInvalid,
        rows_duplicate: run.rowsDuplicate,
        rows_counted: run.rowsCounted,
        error: run.error ?? '',
        recorded_at: Date.now(),
        divergence: run.divergence == null ? '' : JSON.stringify(run.divergence),
      },
    ]);
  }

  async latestBoundary(): Promise<BatchBoundary | null> {
    const rows = await this.ctx.rows(this.ctx.dialect.sql`
      SELECT batch_id, cutoff_time, end_offsets, finished_at FROM batch_runs
      WHERE status = 'success'
      ORDER BY finished_at DESC, batch_id DESC LIMIT 1`);
    const row = rows[0];
    if (row === undefined) return null;
    return {
      batchId: String(row['batch_id']),
      cutoffTime: Number(row['cutoff_time']),
      endOffsets: JSON.parse(String(row['end_offsets'])) as Record<string, number>,
      publishedAt: Number(row['finished_at']),
    };
  }

  async batchRuns(limit: number): Promise<BatchRunRecord[]> {
    const { sql } = this.ctx.dialect;
    const argMax = raw(this.ctx.fn.argMax);
    const latest = (column: string): SqlFragment => sql`${argMax}(${raw(column)}, recorded_at) AS ${raw(column)}`;
    const rows = await this.ctx.rows(sql`
      SELECT batch_id, min(started_at) AS started_at, ${joinSql(RUN_STATE_COLUMNS.map(latest), ', ')}
      FROM batch_runs GROUP BY batch_id
      ORDER BY started_at DESC, batch_id DESC LIMIT ${limit}`);
    return rows.map((r) => ({
      batchId: String(r['batch_id']),
      status: String(r['status']) as BatchRunStatus,
      startedAt: Number(r['started_at']),
      finishedAt: Number(r['finished_at']) === 0 ? null : Number(r['finished_at']),
      cutoffTime: Number(r['cutoff_time']),
      endOffsets: JSON.parse(String(r['end_offsets'])) as Record<string, number>,
      rowsRead: Number(r['rows_read']),
      rowsInvalid: Number(r['rows_invalid']),
      rowsDuplicate: Number(r['rows_duplicate']),
      rowsCounted: Number(r['rows_counted']),
      error: String(r['error']) === '' ? null : String(r['error']),
      divergence: String(r['divergence']) === '' ? null : (JSON.parse(String(r['divergence'])) as RunDivergence),
    }));
  }
}
