/**
 * The project's typed errors. Every foreign error (kafkajs, ClickHouse, DuckDB, fs) is
 * converted into a PlatformError in the one adapter module that talks to that system,
 * so callers decide on retries from `code` and `retriable`, never from message text.
 */

export const ERROR_CODES = [
  'PV_CONFIG_INVALID',
  'PV_EVENT_INVALID',
  'PV_LOG_UNAVAILABLE',
  'PV_LOG_CORRUPT',
  'PV_LOG_CLOSED',
  'PV_OFFSET_OUT_OF_RANGE',
  'PV_STORE_UNAVAILABLE',
  'PV_STORE_LOCKED',
  'PV_STORE_QUERY_FAILED',
  'PV_REQUEST_TIMEOUT',
  'PV_QUERY_INVALID',
  'PV_BATCH_ALREADY_RUNNING',
  'PV_BATCH_FAILED',
  'PV_BATCH_NOT_LEASE_HOLDER',
  'PV_SQL_VALUE_INVALID',
  'PV_SKETCH_CORRUPT',
  'PV_SKETCH_INCOMPATIBLE',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface PlatformErrorProps {
  cause?: unknown;
  /** True when the same call may succeed later (network, broker or server down). */
  retriable?: boolean;
  /** Structured, user-presentable details (e.g. per-field validation messages). */
  details?: unknown;
}

export class PlatformError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly details: unknown;

  constructor(code: ErrorCode, message: string, props: PlatformErrorProps = {}) {
    super(message, props.cause === undefined ? undefined : { cause: props.cause });
    this.name = 'PlatformError';
    this.code = code;
    this.retriable = props.retriable ?? false;
    this.details = props.details;
  }
}

export function isPlatformError(err: unknown, code?: ErrorCode): err is PlatformError {
  return err instanceof PlatformError && (code === undefined || err.code === code);
}

/** Programmer errors are never retried. */
export function isProgrammerError(err: unknown): boolean {
  return err instanceof TypeError || err instanceof RangeError || err instanceof SyntaxError;
}
