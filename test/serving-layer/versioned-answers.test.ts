/**
 * VersionedAnswers: an answer is computed once per request key and version of the views for
 * concurrent requests, and kept once asked again at that version; its ETag comes from the version and the key, and while the
 * views are behind (or move during a computation) no version ETag is given.
 */
import type { Server } from 'node:http';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VersionedAnswers } from '../../serving-layer/versioned-answers.ts';
import { until } from '../support/wait.ts';

const views = { version: 'v1', behind: false };
const answers = new VersionedAnswers(views, { maxEntries: 3 });
let computed = 0;
/** Requests that reached the route. */
let arrived = 0;
let gate: Promise<void> = Promise.resolve();
let server: Server;
let base: string;

beforeAll(async () => {
  const app = express();
  app.get('/a/:key', async (req, res) => {
    const key = req.params.key;
    arrived++;
    await answers.send(req, res, key, async () => {
      computed++;
      await gate;
      return { key, version: views.version, n: computed };
    });
  });
  server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});

function get(path: string, etag?: string): Promise<{ status: number; etag: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(`${base}${path}`, { headers: etag === undefined ? {} : { 'if-none-match': etag } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, etag: res.headers.etag, body }));
      })
      .on('error', reject);
  });
}

describe('VersionedAnswers', () => {
  it('computes an answer once per key and version for concurrent requests, keeps it once asked again, revalidates with 304', async () => {
    computed = 0;
    arrived = 0;
    let open!: () => void;
    gate = new Promise((r) => (open = r));
    const pending = [get('/a/x'), get('/a/x'), get('/a/x')];
    await until('the three requests to reach the route', () => arrived === 3);
    open();
    const first = await Promise.all(pending);
    expect(computed).toBe(1);
    expect(new Set(first.map((r) => r.body)).size).toBe(1);
    expect(first[0]?.etag).toMatch(/^W\/"v1\.[0-9a-z]+"$/);
    // Asked again at the same version: computed once more and kept; from then on sent from memory.
    const second = await get('/a/x');
    expect(computed).toBe(2);
    expect((await get('/a/x')).body).toBe(second.body);
    expect(computed).toBe(2);
    expect((await get('/a/x', first[0]?.etag)).status).toBe(304);
    expect((await get('/a/y')).etag).not.toBe(first[0]?.etag);
    expect(computed).toBe(3);
    views.version = 'v2';
    const moved = await get('/a/x');
    expect(computed).toBe(4);
    expect(moved.etag).toMatch(/^W\/"v2\./);
    expect((await get('/a/x', first[0]?.etag)).status).toBe(200);
  });

  it('keeps at most maxEntries answers, least recently used out first', async () => {
    views.version = 'v3';
    computed = 0;
    // Each asked twice: kept at the second.
    for (const k of ['k1', 'k2', 'k3', 'k4']) {
      await get(`/a/${k}`);
      await get(`/a/${k}`);
    }
    expect(computed).toBe(8);
    await get('/a/k4');
    expect(computed).toBe(8);
    await get('/a/k1'); // dropped for k4
    expect(computed).toBe(9);
  });

  it('behind, or when the version moves during a computation, answers carry no version ETag', async () => {
    views.behind = true;
    computed = 0;
    const a = await get('/a/b');
    const b = await get('/a/b');
    expect(computed).toBe(2);
    expect(a.etag ?? '').not.toMatch(/^W\/"v3\./);
    expect(b.etag ?? '').not.toMatch(/^W\/"v3\./);
    views.behind = false;
    let open!: () => void;
    gate = new Promise((r) => (open = r));
    computed = 0;
    const during = get('/a/m');
    await until('the computation to start', () => computed === 1);
    views.version = 'v4';
    open();
    const answered = await during;
    expect(answered.etag ?? '').not.toMatch(/^W\/"v3\./);
    gate = Promise.resolve();
    expect((await get('/a/m')).body).toContain('"version":"v4"');
  });
});
