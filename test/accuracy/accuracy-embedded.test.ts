import { embeddedBackends } from '../support/backends.ts';
import { describeAccuracy } from './accuracy.scenario.ts';

describeAccuracy('embedded log + DuckDB', (partitions) => embeddedBackends({ partitions }));
