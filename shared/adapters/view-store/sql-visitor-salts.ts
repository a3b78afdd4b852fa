/**
 * The collector's daily visitor-id salts in SQL, for both engines (the VisitorSaltStore of
 * view-store.ts). A day's salt is the least one stored for it: every collector inserts a
 * candidate and reads the least back, so all settle on one salt without a transaction.
 * Destroying a day's salts is engine-specific (a partition on ClickHouse, rows on DuckDB).
 */
import type { SqlContext } from './sql-context.ts';
import type { VisitorSaltStore } from './view-store.ts';

export class SqlVisitorSalts implements Pick<VisitorSaltStore, 'visitorSalt'> {
  constructor(private readonly ctx: SqlContext) {}

  async visitorSalt(day: number, candidate: string): Promise<string> {
    const { sql } = this.ctx.dialect;
    const least = async (): Promise<string | null> => {
      const rows = await this.ctx.rows(sql`SELECT min(salt) AS salt, count(*) AS n FROM visitor_salts WHERE day = ${day}`);
      const row = rows[0];
      return row === undefined || Number(row['n']) === 0 ? null : String(row['salt']);
    };
    const stored = await least();
    if (stored !== null) return stored;
    await this.ctx.insert('visitor_salts', [{ day, salt: candidate }]);
    return (await least()) ?? candidate;
  }
}
