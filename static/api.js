// Locus client: the HTTP account API (register, log in, log out, health and
// the server's Socket.IO parser) and where the session token is kept.
//
// Owns: the JSON requests of protocol.md's HTTP table, turning their failures
// into one readable message, and the localStorage keys.
// Must not touch: the DOM or the socket.

const TOKEN_KEY = 'locus.token';
const NAME_KEY = 'locus.username';

/** A failed API call: `message` is ready to show to the player. */
export class ApiError extends Error {
  /**
   * @param {string} message
   * @param {number} status HTTP status, 0 when the server could not be reached
   * @param {number|null} retryAfter seconds, from a 429's Retry-After header
   */
  constructor(message, status, retryAfter = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

/** Reads the server's `{"error"}` body if there is one, as a sentence. */
async function errorMessage(res) {
  try {
    const body = await res.json();
    if (body && typeof body.error === 'string' && body.error.trim()) return sentence(body.error.trim());
  } catch { /* not JSON */ }
  return null;
}

/** "invalid credentials" -> "Invalid credentials." */
export function sentence(text) {
  const s = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}

async function call(method, path, { body, token } = {}) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch {
    throw new ApiError('Cannot reach the server. Is it running?', 0);
  }
  if (res.ok) {
    if (res.status === 204) return null;
    try {
      return await res.json();
    } catch {
      throw new ApiError('The server sent an unreadable answer.', res.status);
    }
  }
  const serverSays = await errorMessage(res);
  if (res.status === 429) {
    const retry = Number.parseInt(res.headers.get('Retry-After') || '', 10);
    const wait = Number.isFinite(retry) && retry > 0 ? retry : null;
    const msg = wait
      ? `Too many attempts. Try again in ${wait} s.`
      : `Too many attempts. Wait a moment and try again.`;
    throw new ApiError(serverSays && !/too many/i.test(serverSays) ? `${msg} ${serverSays}` : msg, 429, wait);
  }
  throw new ApiError(serverSays || `The server answered ${res.status}.`, res.status);
}

/** POST /api/register → {id, username} */
export function register(username, password) {
  return call('POST', '/api/register', { body: { username, password } });
}

/** POST /api/login → {token, expires_in} (and url on a cluster node) */
export function login(username, password) {
  return call('POST', '/api/login', { body: { username, password } });
}

/** POST /api/logout; a 401 means the token was already dead, which is fine too. */
export async function logout(token) {
  try {
    await call('POST', '/api/logout', { token });
  } catch (e) {
    if (!(e instanceof ApiError) || (e.status !== 401 && e.status !== 0)) throw e;
  }
}

/** GET /api/health, timed: resolves with the round trip in ms (used as "ping"). */
export async function timedHealth() {
  const t0 = performance.now();
  const res = await fetch('/api/health', { cache: 'no-store' });
  await res.text();
  if (!res.ok) throw new ApiError(`health answered ${res.status}`, res.status);
  return performance.now() - t0;
}

/**
 * GET /api/health → the name of the server's Socket.IO parser (`"json"` or
 * `"msgpack"`), asked before every connection attempt. A server that does
 * not say speaks the Socket.IO default, JSON. Throws ApiError when the
 * server cannot be reached or answers something unreadable.
 */
export async function serverParser() {
  const health = await call('GET', '/api/health');
  if (health === null || typeof health !== 'object' || Array.isArray(health)) throw new ApiError('health is not a JSON object', 200);
  if (health.parser === undefined) return 'json';
  if (typeof health.parser !== 'string') throw new ApiError('health gives a parser that is not a string', 200);
  return health.parser;
}

/** Client-side checks matching protocol.md so obvious mistakes need no round trip. */
export function validateCredentials(username, password) {
  if (!/^[A-Za-z0-9_-]{3,32}$/.test(username)) {
    return 'Username: 3 to 32 letters, digits, _ or -.';
  }
  if (password.length < 8 || password.length > 128) {
    return 'Password: 8 to 128 characters.';
  }
  return null;
}

export const session = {
  /** @returns {{token: string, username: string} | null} */
  load() {
    try {
      const token = localStorage.getItem(TOKEN_KEY);
      if (!token) return null;
      return { token, username: localStorage.getItem(NAME_KEY) || '' };
    } catch {
      return null; // storage disabled: the player logs in each time
    }
  },
  save(token, username) {
    try {
      localStorage.setItem(TOKEN_KEY, token);
      localStorage.setItem(NAME_KEY, username);
    } catch { /* storage disabled */ }
  },
  clear() {
    try {
      localStorage.removeItem(TOKEN_KEY);
    } catch { /* storage disabled */ }
  },
  lastUsername() {
    try {
      return localStorage.getItem(NAME_KEY) || '';
    } catch {
      return '';
    }
  },
};
