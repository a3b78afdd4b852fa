export type * from './view-store.ts';
export { speedLaneOwner, speedLateLane } from './view-store.ts';
export { ClickHouseViewStore, CLICKHOUSE_STORE_DEFAULTS, type ClickHouseViewStoreOptions } from './clickhouse-store.ts';
export { DuckDbViewStore, type DuckDbViewStoreOptions } from './duckdb-store.ts';
export { isRefusal, writeIsolatingRefused, type RefusedRow } from './refused-rows.ts';
