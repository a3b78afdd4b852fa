import { embeddedBackends } from '../support/backends.ts';
import { describePipeline } from './pipeline.scenario.ts';

describePipeline('embedded log + DuckDB', () => embeddedBackends());
