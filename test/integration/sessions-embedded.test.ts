import { embeddedBackends } from '../support/backends.ts';
import { describeSessions } from './sessions.scenario.ts';

describeSessions('embedded log + DuckDB', () => embeddedBackends());
