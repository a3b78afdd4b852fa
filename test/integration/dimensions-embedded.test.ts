import { embeddedBackends } from '../support/backends.ts';
import { describeDimensions } from './dimensions.scenario.ts';

describeDimensions('embedded log + DuckDB', () => embeddedBackends());
