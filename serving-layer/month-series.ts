/**
 * The timeseries by calendar month (Plausible's interval=month; UTC). Months differ in length,
 * so the fixed-width buckets of time-buckets.ts do not apply: a month's page views are the sum
 * of its days (counts add), and its visitors are a union over the month (`queryVisitors`: exact
 * before the batch boundary, approximate after), never a sum of days.
 */
import { bucketRange, type PageViewsAnswer, type QueryScope } from '../shared/core/query/index.ts';
import type { ViewsValue, VisitorsCell } from './plausible-results.ts';

export interface MonthBucket {
  /** The first day of the month (the point's date). */
  start: number;
  /** The part of the month inside the range: [from, to). */
  from: number;
  to: number;
}

/** The calendar months [from, to) touches, each clipped to the range. */
export function monthBuckets(from: number, to: number): MonthBucket[] {
  const months: MonthBucket[] = [];
  const first = new Date(from);
  for (let start = Date.UTC(first.getUTCFullYear(), first.getUTCMonth(), 1); start < to; ) {
    const month = new Date(start);
    const next = Date.UTC(month.getUTCFullYear(), month.getUTCMonth() + 1, 1);
    months.push({ start, from: Math.max(start, from), to: Math.min(next, to) });
    start = next;
  }
  return months;
}

export interface MonthPoint {
  bucket: number;
  pageviews?: ViewsValue;
  visitors?: VisitorsCell;
}

export interface MonthSeries {
  /** The range in whole UTC days (from floored, to ceiled). */
  from: number;
  to: number;
  points: MonthPoint[];
  partial: PageViewsAnswer['partial'];
}

/** Page views and visitors of a scope (a site, a page, filtered values) per calendar month over [from, to), whole days; months are clipped to the range. */
export async function queryMonthSeries(scope: QueryScope, query: { from: number; to: number }, metrics: { pageviews: boolean; visitors: boolean }): Promise<MonthSeries> {
  // Whole days, at most MAX_BUCKETS of them (a 400 beyond).
  const { from, to } = bucketRange(query.from, query.to, 'day');
  const months = monthBuckets(from, to);
  const points: MonthPoint[] = months.map((m) => ({ bucket: m.start }));
  let partial: PageViewsAnswer['partial'] = null;
  if (metrics.pageviews) {
    const days = await scope.pageViews({ from, to, interval: 'day' });
    partial = days.partial;
    let i = 0;
    for (const [m, month] of months.entries()) {
      const sum: ViewsValue = { value: 0, exact: true, overcountBound: 0 };
      for (; i < days.series.length && days.series[i]!.bucket < month.to; i++) {
        const day = days.series[i]!;
        sum.value += day.views;
        sum.exact &&= day.exact;
        sum.overcountBound += day.overcountBound;
      }
      points[m]!.pageviews = sum;
    }
  }
  if (metrics.visitors) {
    // One union per month, in turn: a year is twelve reads, and the views answer most from memory.
    for (const [m, month] of months.entries()) {
      const v = await scope.visitors({ from: month.from, to: month.to });
      points[m]!.visitors = { value: v.value, exact: v.exact, relativeStandardError: v.exact ? 0 : v.relativeStandardError };
    }
  }
  return { from, to, points, partial };
}
