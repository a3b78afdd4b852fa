/**
 * The tracker script, `GET /js/script.js`: what a website adds to count its page views.
 *
 * ```html
 * <script defer data-domain="example.com" src="https://analytics.example.com/js/script.js"></script>
 * ```
 *
 * The script (collector/tracker/script.js, hand-written, no dependencies, no cookies or
 * storage) sends Plausible's event payload `{n, u, d, r, w, h?, p?}` as a text/plain body
 * (no CORS preflight) with `navigator.sendBeacon`, or `fetch` with `keepalive` when the beacon
 * is refused, to `POST <origin of src>/api/event`. It counts a page view on load and on
 * single-page-app navigation (`history.pushState`, `popstate`; `hashchange` in hash mode),
 * not when the path is unchanged, and when the page is restored from the back-forward cache.
 * Its attributes:
 *
 * | Attribute | Effect |
 * | --- | --- |
 * | `data-domain` | The site (default: `location.hostname`). |
 * | `data-api` | The events endpoint (default: `<origin of src>/api/event`). |
 * | `data-hash-mode` | Hash-based routing: the hash is part of the page (`"h":1`) and `hashchange` counts. |
 * | `data-manual` | No automatic page views; call `plausible('pageview', {u})`. |
 * | `data-allow-localhost` | Count on `localhost`, `127.x.x.x`, `[::1]` and `file:` (ignored otherwise). |
 * | `data-allow-automation` | Count in automated browsers (`navigator.webdriver`, PhantomJS, Nightmare, Cypress; ignored otherwise). |
 *
 * `window.plausible(name, {u?, props?, callback?})` sends one event (named `plausible` so that
 * Plausible snippets keep working); calls queued before the script loaded by Plausible's usual
 * stub (`window.plausible.q`) are sent when it loads.
 *
 * The file is read and gzipped once, when the router is built, and served from memory with a
 * strong ETag per representation. It is cached for a day (`max-age=86400`): site owners embed
 * an unversioned URL, so the max-age is how long a fixed script takes to reach every browser,
 * and a day keeps that short while sparing a request per page view; after it, a revalidation
 * costs a 304.
 */
import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import type { OpenApiPart } from '../shared/runtime/http/openapi.ts';
import { loadStaticFile, sendStaticFile, type StaticFile } from '../shared/runtime/http/static-file.ts';

/** Where the script is served. */
export const TRACKER_SCRIPT_ROUTE = '/js/script.js';
/** The script's source, served as is. */
export const TRACKER_SCRIPT_FILE = new URL('./tracker/script.js', import.meta.url);
/** How long browsers and proxies may keep the script without asking again. */
export const TRACKER_CACHE_CONTROL = 'public, max-age=86400';

export type TrackerScript = StaticFile;

/** Reads and gzips the script once. */
export function loadTrackerScript(file: URL | string = TRACKER_SCRIPT_FILE): TrackerScript {
  return loadStaticFile(file, 'application/javascript; charset=utf-8');
}

/** The script's entry in the OpenAPI document. Its query string is ignored (sites may add `?v=…` to bust caches). */
export const TRACKER_OPENAPI: OpenApiPart = {
  operations: {
    [`get ${TRACKER_SCRIPT_ROUTE}`]: {
      summary: 'The tracker script a website adds with <script defer data-domain="…" src="…/js/script.js">',
      query: z.object({}),
      responses: {
        200: {
          description: `The script; gzipped when accepted. Cache-Control: ${TRACKER_CACHE_CONTROL}, a strong ETag.`,
          content: { 'application/javascript': { schema: { type: 'string' } } },
        },
        304: { description: 'Not modified (If-None-Match names the current ETag).' },
      },
    },
  },
};

export function trackerRouter(script: TrackerScript = loadTrackerScript()): Router {
  const router = Router();
  router.get(TRACKER_SCRIPT_ROUTE, (req: Request, res: Response) => {
    sendStaticFile(req, res, script, {
      'Cache-Control': TRACKER_CACHE_CONTROL,
      // Any site may load it, also pages that require CORS or CORP for their subresources.
      'Access-Control-Allow-Origin': '*',
      'Cross-Origin-Resource-Policy': 'cross-origin',
    });
  });
  return router;
}
