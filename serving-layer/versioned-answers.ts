/**
 * Answers that depend only on the request and the version of the serving views: the ETag is
 * computed from the version and the request's key (no hashing of the body), a matching
 * If-None-Match gets 304 without computing anything, and an answer asked for again at the same
 * version is kept and sent from memory until the views move to another version.
 *
 * The key must hold everything the answer depends on besides the views: the route and its
 * parsed parameters, with relative periods already resolved to times.
 */
import { hash64 } from '../shared/core/sketches/index.ts';
import type { Request, Response } from 'express';

/** What the answers depend on: ServingViews. */
export interface VersionedViews {
  readonly version: string;
  readonly behind: boolean;
}

export interface VersionedAnswersOptions {
  /** Most answers kept. @default 2000 */
  maxEntries?: number;
  /** Most characters of answers kept. @default 8 Mi (about 16 MiB) */
  maxChars?: number;
}

interface Kept {
  version: string;
  body: string;
}

/** An answer being computed: requests for the same key and version wait for it instead of computing it again. */
interface Pending {
  version: string;
  body: Promise<string>;
}

export class VersionedAnswers {
  /** In least-recently-used order. */
  private readonly kept = new Map<string, Kept>();
  private readonly pending = new Map<string, Pending>();
  /**
   * Keys computed once at a version (key → version), least recently used first: an answer is
   * kept when it is asked again at the same version. One-off answers (a page read once) would
   * only churn memory.
   */
  private readonly seen = new Map<string, string>();
  private chars = 0;
  private readonly maxEntries: number;
  private readonly maxChars: number;

  constructor(
    private readonly views: VersionedViews,
    options: VersionedAnswersOptions = {},
  ) {
    this.maxEntries = options.maxEntries ?? 2000;
    this.maxChars = options.maxChars ?? 8 * 1024 * 1024;
  }

  /** Sends the answer of `key` at the views' current version (JSON). Behind, it computes every time and sends no version ETag. */
  async send(req: Request, res: Response, key: string, compute: () => Promise<unknown>): Promise<void> {
    const version = this.views.behind ? null : this.views.version;
    if (version === null) {
      res.json(await compute());
      return;
    }
    const { hi, lo } = hash64(key);
    res.setHeader('ETag', `W/"${version}.${(hi >>> 0).toString(36)}${(lo >>> 0).toString(36)}"`);
    if (req.fresh) {
      res.status(304).end();
      return;
    }
    const hit = this.kept.get(key);
    if (hit !== undefined && hit.version === version) {
      this.kept.delete(key);
      this.kept.set(key, hit);
      res.type('application/json').send(hit.body);
      return;
    }
    const running = this.pending.get(key);
    if (running !== undefined && running.version === version) {
      const text = await running.body;
      if (this.views.version !== version) res.removeHeader('ETag');
      res.type('application/json').send(text);
      return;
    }
    const body = (async () => JSON.stringify(await compute()))();
    this.pending.set(key, { version, body });
    let text: string;
    try {
      text = await body;
    } finally {
      if (this.pending.get(key)?.body === body) this.pending.delete(key);
    }
    if (this.views.version !== version) {
      // A refresh landed while reads went to the store: the answer may mix two versions.
      res.removeHeader('ETag');
    } else if (this.seen.get(key) === version) {
      this.keep(key, { version, body: text });
    } else {
      this.seen.delete(key);
      this.seen.set(key, version);
      if (this.seen.size > this.maxEntries * 4) this.seen.delete(this.seen.keys().next().value!);
    }
    res.type('application/json').send(text);
  }

  private keep(key: string, kept: Kept): void {
    const before = this.kept.get(key);
    if (before !== undefined) {
      this.kept.delete(key);
      this.chars -= before.body.length;
    }
    if (kept.body.length > this.maxChars) return;
    this.kept.set(key, kept);
    this.chars += kept.body.length;
    for (const [k, v] of this.kept) {
      if (this.kept.size <= this.maxEntries && this.chars <= this.maxChars) break;
      this.kept.delete(k);
      this.chars -= v.body.length;
    }
  }
}
