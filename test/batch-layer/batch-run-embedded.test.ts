import { embeddedBackends } from '../support/backends.ts';
import { describeBatchAccuracy } from './batch-run.scenario.ts';

describeBatchAccuracy('embedded log + DuckDB', () => embeddedBackends());
