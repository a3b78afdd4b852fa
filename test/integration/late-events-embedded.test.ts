import { embeddedBackends } from '../support/backends.ts';
import { describeLateEvents } from './late-events.scenario.ts';

describeLateEvents('embedded log + DuckDB', () => embeddedBackends({ partitions: 2 }));
