/**
 * Bearer-token auth for admin routes: `Authorization: Bearer <ADMIN_API_KEY>`.
 * 401 when the header is missing or malformed, 403 when the token is wrong or admin routes
 * are disabled (no ADMIN_API_KEY configured). Tokens are compared in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { ApiError } from './api-error.ts';

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Requires one of `keys` as a bearer token; no keys: open. 401 without a token, 403 with a wrong one. */
export function requireReadKey(keys: readonly string[]): RequestHandler {
  const expected = keys.map(digest);
  return (req, res, next) => {
    if (expected.length === 0) {
      next();
      return;
    }
    const header = req.get('authorization');
    const match = header === undefined ? null : /^Bearer ([^\s]+)$/i.exec(header.trim());
    if (match === null) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="pageviews"');
      throw new ApiError(401, 'PV_UNAUTHORIZED', 'this API needs a read token: Authorization: Bearer <one of READ_API_KEYS>');
    }
    const given = digest(match[1] ?? '');
    if (!expected.some((e) => timingSafeEqual(e, given))) throw new ApiError(403, 'PV_FORBIDDEN', 'the read token is not valid');
    next();
  };
}

export function requireAdmin(adminApiKey: string | null): RequestHandler {
  const expected = adminApiKey === null ? null : digest(adminApiKey);
  return (req, res, next) => {
    // Disabled is the real state whatever the request carries: no token would be accepted.
    if (expected === null) {
      throw new ApiError(403, 'PV_FORBIDDEN', 'admin routes are disabled: start the server with ADMIN_API_KEY set (at least 16 characters)');
    }
    const header = req.get('authorization');
    const match = header === undefined ? null : /^Bearer ([^\s]+)$/i.exec(header.trim());
    if (match === null) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="pageviews-admin"');
      throw new ApiError(401, 'PV_UNAUTHORIZED', 'this route needs an admin token: Authorization: Bearer <ADMIN_API_KEY>');
    }
    if (!timingSafeEqual(digest(match[1] ?? ''), expected)) {
      throw new ApiError(403, 'PV_FORBIDDEN', 'the admin token is not valid');
    }
    next();
  };
}
