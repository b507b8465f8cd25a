// The dashboard's client for the Triggers v1 API: same origin only, the key
// in the X-API-Key header (never in a URL), rate-limit headers read from
// every response, errors turned into ApiError from the error envelope
// ({"error": {"code", "message", "details", "request_id"}}, DESIGN §1.2).

// The API root is the directory above this module (/ui/api.js -> /).
const API_ROOT = new URL('../', import.meta.url);

/** An API error: an error envelope, or status 0 when the server was not reached. */
export class ApiError extends Error {
  constructor({ status, code, message, details, requestId, retryAfter, rate }) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details || {};
    this.requestId = requestId || '';
    this.retryAfter = retryAfter;
    this.rate = rate;
  }
}

/**
 * Reads the key's rate-limit state from a response: null when the response
 * has none (401, 403, unlimited routes). resetAt is a local Date.now() time:
 * taken from the IETF RateLimit header's t= (seconds from now, immune to
 * clock skew) when present, else from X-RateLimit-Reset (Unix seconds).
 */
export function readRateLimit(headers, now = Date.now()) {
  const limit = headers.get('X-RateLimit-Limit');
  if (limit === null) return null;
  const resetUnix = Number(headers.get('X-RateLimit-Reset'));
  let resetAt = resetUnix * 1000;
  const t = /(?:^|[;,\s])t=(\d+)/.exec(headers.get('RateLimit') || '');
  if (t) resetAt = now + Number(t[1]) * 1000;
  return {
    limit: Number(limit),
    remaining: Number(headers.get('X-RateLimit-Remaining')),
    resetUnix,
    resetAt,
  };
}

/**
 * Creates a client. getKey returns the current API key; onResponse(rate) is
 * called after every response that carries rate-limit headers.
 */
export function createClient({ getKey, onRateLimit }) {
  async function request(method, path, { query, body, raw } = {}) {
    const url = new URL(path.replace(/^\//, ''), API_ROOT);
    if (query) for (const [k, v] of query) url.searchParams.append(k, v);
    const headers = { Accept: 'application/json' };
    const key = getKey();
    if (key) headers['X-API-Key'] = key;
    const init = { method, headers, cache: 'no-store', credentials: 'omit', redirect: 'error', referrerPolicy: 'no-referrer' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(url, init);
    } catch (err) {
      throw new ApiError({ status: 0, code: 'NETWORK_ERROR', message: `Could not reach the server (${err.message}).` });
    }
    const requestId = resp.headers.get('X-Request-ID') || '';
    const rate = readRateLimit(resp.headers);
    if (rate && onRateLimit) onRateLimit(rate);
    const text = await resp.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!resp.ok) {
      const e = (data && data.error) || {};
      const retry = resp.headers.get('Retry-After');
      throw new ApiError({
        status: resp.status,
        code: e.code || `HTTP_${resp.status}`,
        message: e.message || resp.statusText || 'request failed',
        details: e.details,
        requestId: e.request_id || requestId,
        retryAfter: retry !== null && /^\d+$/.test(retry) ? Number(retry) : null,
        rate,
      });
    }
    return { status: resp.status, data, text: raw ? text : undefined, headers: resp.headers, rate, requestId };
  }
  return { request };
}

/** The ids of a list in chunks of at most n (the bulk endpoints take 25). */
export function chunks(list, n = 25) {
  const out = [];
  for (let i = 0; i < list.length; i += n) out.push(list.slice(i, i + n));
  return out;
}
