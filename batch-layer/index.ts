/**
 * The batch layer's public interface: one run (plan, run, cutoff rules), its schedule, and the
 * lease and run requests on the control topic. Other layers import only from here.
 */
export { BATCH_CONTROL_GROUP, BatchControl, isBatchRunRequest, requestBatchRun, runOptionsOf, type BatchControlOptions, type BatchRunRequest } from './batch-control.ts';
export {
  BATCH_RUN_DEFAULTS,
  defaultCutoff,
  measureDivergence,
  newBatchId,
  planBatch,
  runBatch,
  validateCutoff,
  type BatchPlan,
  type BatchRunOptions,
  type BatchRunResult,
} from './batch-run.ts';
export { cutoffProblem, hourText, lastFullHour, type CutoffProblem } from './cutoff.ts';
export { BATCH_SCHEDULER_DEFAULTS, BatchScheduler, type BatchSchedulerOptions } from './batch-scheduler.ts';
