/**
 * `npm run ddl -- --cluster NAME [--database DB] [--after VERSION]`
 * Prints the project's ClickHouse schema rendered for a cluster (ON CLUSTER, Replicated tables,
 * Distributed `<table>_all` tables; docs/batch-layer.md, "Cluster deployment"), as a script for
 * `clickhouse-client --multiquery`. It connects to nothing.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NAME_RE, clusterDdl, clusterDdlScript } from '../shared/adapters/view-store/clickhouse-cluster.ts';
import { loadMigrations } from '../shared/adapters/view-store/migrations.ts';
import { ENVIRONMENT_VARIABLES } from '../shared/runtime/environment.ts';
import { UsageError, example, parseFlags, runCli } from './args.ts';

/** The database `npm start` uses when CLICKHOUSE_DATABASE is unset. */
const DEFAULT_DATABASE = ENVIRONMENT_VARIABLES.CLICKHOUSE_DATABASE.default;

export const DDL_USAGE = `usage: npm run ddl -- --cluster NAME [--database DB] [--after VERSION]
  --cluster   the cluster's name in the servers' <remote_servers>
  --database  the database of the platform's tables (default ${DEFAULT_DATABASE}, as CLICKHOUSE_DATABASE)
  --after     print only the migrations after this version (a cluster's highest in schema_migrations); default: all`;

export type DdlFlags = { help: true } | { help: false; cluster: string; database: string; afterVersion: number };

function nameFlag(name: string, raw: string | boolean | undefined, instead: string): string | undefined {
  if (typeof raw !== 'string') return undefined;
  if (!NAME_RE.test(raw)) {
    throw new UsageError(`--${name} must be a plain name (letters, digits and '_', not starting with a digit), got ${JSON.stringify(raw)}; ${example(name, instead)}`);
  }
  return raw;
}

export function parseDdlFlags(argv: string[]): DdlFlags {
  const flags = parseFlags(
    argv,
    {
      cluster: { type: 'string', example: 'analytics' },
      database: { type: 'string', example: DEFAULT_DATABASE },
      after: { type: 'string', example: '9' },
      help: { type: 'boolean', short: 'h' },
    },
    DDL_USAGE,
  );
  if (flags['help'] === true) return { help: true };
  const cluster = nameFlag('cluster', flags['cluster'], 'analytics');
  if (cluster === undefined) throw new UsageError(`--cluster is required; ${example('cluster', 'analytics')}\n\n${DDL_USAGE}`);
  const database = nameFlag('database', flags['database'], DEFAULT_DATABASE) ?? DEFAULT_DATABASE;
  const after = flags['after'];
  if (after !== undefined && (typeof after !== 'string' || !/^\d+$/.test(after))) {
    throw new UsageError(`--after must be a migration version (a whole number), got ${JSON.stringify(after)}; ${example('after', '9')}`);
  }
  return { help: false, cluster, database, afterVersion: after === undefined ? 0 : Number(after) };
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  void runCli(async () => {
    const flags = parseDdlFlags(process.argv.slice(2));
    if (flags.help) {
      console.log(DDL_USAGE);
      return 0;
    }
    const ddl = clusterDdl(await loadMigrations('clickhouse'), { cluster: flags.cluster, database: flags.database });
    process.stdout.write(clusterDdlScript(ddl, flags.afterVersion));
    return 0;
  });
}
