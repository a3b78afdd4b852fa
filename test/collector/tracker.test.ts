import { gunzipSync, gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request, type IncomingHttpHeaders } from 'node:http';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRACKER_SCRIPT_FILE, trackerRouter } from '../../collector/tracker.ts';

const source = readFileSync(TRACKER_SCRIPT_FILE);

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A raw GET (fetch would decode gzip and hide Content-Encoding's effect on the bytes). */
function get(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the tracker script file', () => {
  it('is at most 2 KB gzipped', () => {
    const size = gzipSync(source, { level: 9 }).length;
    console.info(`tracker script: ${source.length} bytes, ${size} bytes gzipped`);
    expect(size).toBeLessThanOrEqual(2048);
  });

  it('uses no cookies, no storage and no imports', () => {
    const text = source.toString('utf8');
    expect(text).not.toMatch(/document\.cookie|localStorage|sessionStorage|indexedDB|\bimport\b|\brequire\(/);
  });
});

describe('GET /js/script.js', () => {
  let server: Server;
  let url: string;

  beforeAll(async () => {
    const app = express();
    app.use(trackerRouter());
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/js/script.js`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  it('serves the file as JavaScript, cacheable for a day, to any origin', async () => {
    const res = await get(url);
    expect(res.status).toBe(200);
    expect(res.body.equals(source)).toBe(true);
    expect(res.headers).toMatchObject({
      'content-type': 'application/javascript; charset=utf-8',
      'cache-control': 'public, max-age=86400',
      'access-control-allow-origin': '*',
      'cross-origin-resource-policy': 'cross-origin',
      'x-content-type-options': 'nosniff',
      vary: 'Accept-Encoding',
      'content-length': String(source.length),
    });
    expect(res.headers['content-encoding']).toBeUndefined();
    expect(res.headers.etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
  });

  it('serves it gzipped to a client that accepts gzip, under another strong ETag', async () => {
    const plain = await get(url);
    const res = await get(url, { 'accept-encoding': 'br, gzip;q=0.8, deflate' });
    expect(res.status).toBe(200);
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(res.body).equals(source)).toBe(true);
    expect(res.headers['content-length']).toBe(String(res.body.length));
    expect(res.headers.etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    expect(res.headers.etag).not.toBe(plain.headers.etag);
    // gzip;q=0 refuses gzip
    expect((await get(url, { 'accept-encoding': 'gzip;q=0' })).headers['content-encoding']).toBeUndefined();
  });

  it('answers 304 with no body to If-None-Match naming its ETag (also in a list, or weak, or *)', async () => {
    for (const encoding of ['identity', 'gzip']) {
      const first = await get(url, { 'accept-encoding': encoding });
      const etag = String(first.headers.etag);
      for (const ifNoneMatch of [etag, `"other", ${etag}`, `W/${etag}`, '*']) {
        const res = await get(url, { 'accept-encoding': encoding, 'if-none-match': ifNoneMatch });
        expect(res.status).toBe(304);
        expect(res.body.length).toBe(0);
        expect(res.headers.etag).toBe(etag);
        expect(res.headers['cache-control']).toBe('public, max-age=86400');
      }
    }
  });

  it('answers 200 to an ETag of another version or another encoding', async () => {
    const gz = await get(url, { 'accept-encoding': 'gzip' });
    expect((await get(url, { 'if-none-match': '"stale"' })).status).toBe(200);
    const res = await get(url, { 'accept-encoding': 'identity', 'if-none-match': String(gz.headers.etag) });
    expect(res.status).toBe(200);
    expect(res.body.equals(source)).toBe(true);
  });

  it('answers HEAD with the headers and no body', async () => {
    const res = await get(url, {}, 'HEAD');
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBe(String(source.length));
    expect(res.body.length).toBe(0);
  });
});
