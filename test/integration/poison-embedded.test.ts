import { embeddedBackends } from '../support/backends.ts';
import { describePoison } from './poison.scenario.ts';

describePoison('embedded log + DuckDB', () => embeddedBackends({ partitions: 3 }));
