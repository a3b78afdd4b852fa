/**
 * The live dashboard: `GET /` and `GET /<site>` answer its page, `GET /dashboard/<file>` its
 * script, style sheet and chart library (uPlot, MIT). The dashboard is static source
 * (dashboard/, no build step) that reads only the public API, so it needs no route of its own
 * beyond its files; what it shows is what the API answers.
 *
 * The files are read and gzipped once, when the router is made, and served from memory with a
 * strong ETag per encoding, revalidated on every load (`Cache-Control: no-cache`: a new version
 * shows at once, an unchanged one costs a 304).
 */
import { createRequire } from 'node:module';
import { Router } from 'express';
import { SITE_PATTERN } from '../shared/core/page-view.ts';
import type { OpenApiPart } from '../shared/runtime/http/openapi.ts';
import { loadStaticFile, sendStaticFile, type StaticFile } from '../shared/runtime/http/static-file.ts';
import { asQuery, parseInput } from '../shared/runtime/http/validate.ts';
import { dashboardFilePath, dashboardPath, dashboardQuery } from './query-schemas.ts';

const require = createRequire(import.meta.url);
const DASHBOARD = (file: string): URL => new URL(`../dashboard/${file}`, import.meta.url);

/** The page: its own files only, and this origin's API only. */
const PAGE_HEADERS = {
  'Cache-Control': 'no-cache',
  'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'Referrer-Policy': 'no-referrer',
};
const FILE_HEADERS = { 'Cache-Control': 'no-cache' };

/** The dashboard's files by the name they are served under. */
export interface DashboardFiles {
  page: StaticFile;
  files: ReadonlyMap<string, StaticFile>;
}

/** Reads and gzips the dashboard's files (once per router). */
export function loadDashboardFiles(): DashboardFiles {
  const js = 'text/javascript; charset=utf-8';
  const css = 'text/css; charset=utf-8';
  return {
    page: loadStaticFile(DASHBOARD('index.html'), 'text/html; charset=utf-8'),
    files: new Map([
      ['dashboard.js', loadStaticFile(DASHBOARD('dashboard.js'), js)],
      ['dashboard.css', loadStaticFile(DASHBOARD('dashboard.css'), css)],
      ['uPlot.min.js', loadStaticFile(require.resolve('uplot/dist/uPlot.iife.min.js'), js)],
      ['uPlot.min.css', loadStaticFile(require.resolve('uplot/dist/uPlot.min.css'), css)],
    ]),
  };
}

const html = { 'text/html': { schema: { type: 'string' } } };
const page = (summary: string) => ({
  summary,
  query: dashboardQuery,
  responses: { 200: { description: 'The dashboard page (gzipped when accepted; strong ETag).', content: html }, 304: { description: 'Not modified.' }, 400: { $ref: '#/components/responses/Error' } },
});

export const DASHBOARD_OPENAPI: OpenApiPart = {
  operations: {
    'get /': page("The live dashboard, on the first site the API lists (a browser page; it reads the public API, with the read key of the link's `auth` or the one it asks for)"),
    'get /{site}': { ...page("The live dashboard of a site, as Plausible's /<domain>"), path: dashboardPath },
    'get /dashboard/{file}': {
      summary: "The dashboard's script, style sheet and chart library",
      query: dashboardQuery.pick({}),
      path: dashboardFilePath,
      responses: { 200: { description: 'The file (gzipped when accepted; strong ETag).', content: { 'text/javascript': { schema: { type: 'string' } }, 'text/css': { schema: { type: 'string' } } } }, 304: { description: 'Not modified.' } },
    },
  },
};

/** `/`, `/<site>` and `/dashboard/<file>`; mounted after every API router (`/<site>` answers only the paths they leave). */
export function dashboardRouter(dashboard: DashboardFiles = loadDashboardFiles()): Router {
  const router = Router();
  router.get('/', (req, res) => {
    parseInput(asQuery(dashboardQuery), req.query);
    sendStaticFile(req, res, dashboard.page, PAGE_HEADERS);
  });
  router.get('/dashboard/:file', (req, res, next) => {
    const file = dashboard.files.get(parseInput(dashboardFilePath, req.params).file);
    if (file === undefined) {
      next();
      return;
    }
    sendStaticFile(req, res, file, FILE_HEADERS);
  });
  router.get('/:site', (req, res, next) => {
    const { site } = parseInput(dashboardPath, req.params);
    if (!SITE_PATTERN.test(site)) {
      next();
      return;
    }
    parseInput(asQuery(dashboardQuery), req.query);
    sendStaticFile(req, res, dashboard.page, PAGE_HEADERS);
  });
  return router;
}
