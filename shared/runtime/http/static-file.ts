/**
 * A file served from memory: read and gzipped once, sent in the encoding the client accepts,
 * each encoding with a strong ETag of its own bytes, and 304 to a matching If-None-Match.
 * The tracker script and the dashboard's files are served this way.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import type { Request, Response } from 'express';

/** One encoding of a file, ready to send. */
export interface Representation {
  body: Buffer;
  etag: string;
}

export interface StaticFile {
  contentType: string;
  identity: Representation;
  gzip: Representation;
}

/** A strong ETag: the representation's bytes decide it (so gzip and identity differ). */
function strongEtag(body: Buffer): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}

/** Reads and gzips a file once. */
export function loadStaticFile(file: URL | string, contentType: string): StaticFile {
  const source = readFileSync(file);
  const gzipped = gzipSync(source, { level: 9 });
  return { contentType, identity: { body: source, etag: strongEtag(source) }, gzip: { body: gzipped, etag: strongEtag(gzipped) } };
}

/** Whether an If-None-Match header names `etag` (or is `*`). Weak comparison, as RFC 9110 asks for If-None-Match. */
function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  return ifNoneMatch.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t === etag || t === `W/${etag}`;
  });
}

/** Sends `file` (gzipped when accepted) with `headers` and its ETag, or 304 when the client holds it. */
export function sendStaticFile(req: Request, res: Response, file: StaticFile, headers: Readonly<Record<string, string>>): void {
  const gzip = req.acceptsEncodings('gzip', 'identity') === 'gzip';
  const chosen = gzip ? file.gzip : file.identity;
  res.setHeader('Content-Type', file.contentType);
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader('ETag', chosen.etag);
  res.setHeader('Vary', 'Accept-Encoding');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  if (matches(req.headers['if-none-match'], chosen.etag)) {
    res.status(304).end();
    return;
  }
  if (gzip) res.setHeader('Content-Encoding', 'gzip');
  res.setHeader('Content-Length', String(chosen.body.length));
  res.status(200).end(chosen.body);
}
