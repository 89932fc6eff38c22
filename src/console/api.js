// The console's one way to the API: same origin, the session cookie, the
// CSRF token on every change, the chosen language, problems as errors.

let csrf = null;
let language = 'en';
let onSignedOut = () => {};

export function setCsrf(token) { csrf = token; }
export function setLanguage(lang) { language = lang; }
export function whenSignedOut(fn) { onSignedOut = fn; }

/** An `application/problem+json` answer: status, stable code, title, field errors. */
export class Problem extends Error {
  constructor(status, body, retryAfter = null) {
    super(body.title || `HTTP ${status}`);
    /** Seconds to wait (the Retry-After header), if the server said. */
    this.retryAfter = retryAfter;
    this.status = status;
    this.code = body.code || 'network_error';
    this.title = body.title || '';
    this.detail = body.detail || '';
    this.errors = body.errors || [];
  }
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '' && v !== false) q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/**
 * Calls `/api/v1{path}`. Options: body (JSON), query, etag (If-Match),
 * idempotencyKey. Resolves to {data, etag, status}; rejects with a Problem.
 */
export async function call(method, path, opts = {}) {
  const headers = { Accept: 'application/json', 'Accept-Language': language };
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['X-CSRF-Token'] = csrf;
  if (opts.etag) headers['If-Match'] = opts.etag;
  if (opts.idempotencyKey) headers['Idempotency-Key'] = opts.idempotencyKey;
  let res;
  try {
    res = await fetch(`/api/v1${path}${query(opts.query)}`, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    throw new Problem(0, { code: 'network_error' });
  }
  if (!res.ok) {
    let body = {};
    try { body = await res.json(); } catch { /* not JSON */ }
    const wait = Number(res.headers.get('Retry-After'));
    const problem = new Problem(res.status, body, Number.isFinite(wait) && wait > 0 ? wait : null);
    if (res.status === 401 && path !== '/session') onSignedOut(problem);
    throw problem;
  }
  const data = res.status === 204 ? null : await res.json();
  return { data, etag: res.headers.get('ETag'), status: res.status };
}

export const get = (path, q) => call('GET', path, { query: q }).then((r) => r.data);
