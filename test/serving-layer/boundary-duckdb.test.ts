import { embeddedBackends } from '../support/backends.ts';
import { describeBoundaryCases } from './boundary.scenario.ts';

describeBoundaryCases('DuckDB', () => embeddedBackends());
