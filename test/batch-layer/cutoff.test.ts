/** A batch cutoff is on a UTC hour and not in the future; a refusal offers the last full hour at or before it. */
import { describe, expect, it } from 'vitest';
import { cutoffProblem, hourText, validateCutoff } from '../../batch-layer/index.ts';

const now = Date.UTC(2026, 11, 2, 13, 21);
const HOUR = 3_600_000;

describe('cutoffProblem', () => {
  it.each([
    ['the start of the current hour', Date.UTC(2026, 11, 2, 13), null],
    ['an hour long past', Date.UTC(2026, 0, 1, 3), null],
    ['a time within a past hour', Date.UTC(2026, 11, 2, 12, 30), { problem: 'off-hour', lastFullHour: Date.UTC(2026, 11, 2, 12) }],
    ['a time within the current hour', Date.UTC(2026, 11, 2, 13, 20), { problem: 'off-hour', lastFullHour: Date.UTC(2026, 11, 2, 13) }],
    ['a time within the current hour, after now', Date.UTC(2026, 11, 2, 13, 40), { problem: 'off-hour', lastFullHour: Date.UTC(2026, 11, 2, 13) }],
    ['the next hour', Date.UTC(2026, 11, 2, 14), { problem: 'future', lastFullHour: Date.UTC(2026, 11, 2, 13) }],
    ['a time within a future hour', Date.UTC(2026, 11, 3, 0, 30), { problem: 'future', lastFullHour: Date.UTC(2026, 11, 2, 13) }],
    ['a fraction of a millisecond', Date.UTC(2026, 11, 2, 12) + 0.5, { problem: 'off-hour', lastFullHour: Date.UTC(2026, 11, 2, 12) }],
  ])('%s', (_name, cutoff, problem) => {
    expect(cutoffProblem(cutoff, now)).toEqual(problem);
  });
});

describe('validateCutoff (POST /api/v1/batch/runs)', () => {
  it('names "cutoff" and offers the last full hour before one off the hour', () => {
    expect(() => validateCutoff(Date.UTC(2026, 11, 2, 12, 20), now)).toThrow(
      '"cutoff" must be on a UTC hour (the batch views are built per hour): 2026-12-02T12:20:00.000Z is not; e.g. "cutoff": "2026-12-02T12:00:00Z", the last full hour before it',
    );
  });

  it('offers the start of the current UTC hour for one in the future', () => {
    expect(() => validateCutoff(Date.UTC(2026, 11, 3), now)).toThrow(
      '"cutoff": 2026-12-03T00:00:00.000Z is in the future; e.g. "cutoff": "2026-12-02T13:00:00Z", the start of the current UTC hour',
    );
    expect(() => validateCutoff(8.64e15 + HOUR, now)).toThrow(/^"cutoff": 8640000003600000 is in the future/);
  });

  it('takes a past hour', () => {
    expect(() => validateCutoff(Date.UTC(2026, 11, 2, 13), now)).not.toThrow();
    expect(hourText(Date.UTC(2026, 11, 2, 13))).toBe('2026-12-02T13:00:00Z');
  });
});
