// Unit tests for static/api.js: request shapes, how server failures become
// messages for the player (including 429 and Retry-After), logout tolerance,
// token storage. fetch and localStorage are replaced by in-memory stand-ins.
// Run: node --test tests/js/

import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';

const calls = [];
let reply = () => new Response('{}', { status: 200 });
globalThis.fetch = async (url, init = {}) => {
  calls.push({ url, init });
  return reply(url, init);
};
const store = new Map();
globalThis.localStorage = {
  getItem: (k) => (store.has(k) ? store.get(k) : null),
  setItem: (k, v) => store.set(k, String(v)),
  removeItem: (k) => store.delete(k),
};

const api = await import('../../static/api.js');

const json = (status, body, headers = {}) => () =>
  new Response(body === undefined ? null : JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });

beforeEach(() => {
  calls.length = 0;
  store.clear();
});

describe('requests', () => {
  it('register posts JSON credentials', async () => {
    reply = json(201, { id: 3, username: 'alice' });
    assert.deepEqual(await api.register('alice', 'password1'), { id: 3, username: 'alice' });
    assert.equal(calls[0].url, '/api/register');
    assert.equal(calls[0].init.method, 'POST');
    assert.equal(calls[0].init.headers['Content-Type'], 'application/json');
    assert.deepEqual(JSON.parse(calls[0].init.body), { username: 'alice', password: 'password1' });
  });

  it('login returns the token', async () => {
    reply = json(200, { token: 'abc', expires_in: 3600 });
    assert.deepEqual(await api.login('alice', 'password1'), { token: 'abc', expires_in: 3600 });
    assert.equal(calls[0].url, '/api/login');
  });

  it('logout sends the bearer token and accepts 204', async () => {
    reply = () => new Response(null, { status: 204 });
    await api.logout('tok123');
    assert.equal(calls[0].url, '/api/logout');
    assert.equal(calls[0].init.headers.Authorization, 'Bearer tok123');
  });
});

describe('failures become readable messages', () => {
  it("shows the server's error text as a sentence", async () => {
    reply = json(401, { error: 'invalid credentials' });
    await assert.rejects(api.login('a', 'b'), (e) => e instanceof api.ApiError && e.status === 401 && e.message === 'Invalid credentials.');
  });

  it('keeps 409 and 400 reasons', async () => {
    reply = json(409, { error: 'username taken' });
    await assert.rejects(api.register('alice', 'password1'), { message: 'Username taken.' });
    reply = json(400, { error: 'password must be 8-128 characters.' });
    await assert.rejects(api.register('alice', 'x'), { message: 'Password must be 8-128 characters.' });
  });

  it('429 says when to retry, from Retry-After', async () => {
    reply = json(429, { error: 'rate limited' }, { 'Retry-After': '12' });
    await assert.rejects(api.login('a', 'b'), (e) => e.status === 429 && e.retryAfter === 12 && /Try again in 12 s/.test(e.message));
  });

  it('429 without Retry-After or body still explains itself', async () => {
    reply = () => new Response('', { status: 429 });
    await assert.rejects(api.register('a', 'b'), (e) => e.retryAfter === null && /Too many attempts/.test(e.message));
  });

  it('a body that is not JSON falls back to the status', async () => {
    reply = () => new Response('<html>oops</html>', { status: 502 });
    await assert.rejects(api.login('a', 'b'), { message: 'The server answered 502.' });
  });

  it('an unreachable server is reported as such', async () => {
    reply = () => { throw new TypeError('fetch failed'); };
    await assert.rejects(api.login('a', 'b'), (e) => e.status === 0 && /Cannot reach the server/.test(e.message));
  });

  it('logout tolerates an already dead token or a server that is down', async () => {
    reply = json(401, { error: 'unauthorized' });
    await api.logout('old');
    reply = () => { throw new TypeError('fetch failed'); };
    await api.logout('old');
    reply = json(500, { error: 'boom' });
    await assert.rejects(api.logout('old'), { status: 500 });
  });
});

describe("the server's Socket.IO parser, from GET /api/health", () => {
  it('reads the parser field', async () => {
    reply = json(200, { status: 'ok', players_online: 0, tick: 5, persistence: 'ok', parser: 'msgpack' });
    assert.equal(await api.serverParser(), 'msgpack');
    assert.equal(calls[0].url, '/api/health');
    assert.equal(calls[0].init.method, 'GET');
    assert.equal(calls[0].init.cache, 'no-store');
  });

  it('passes an unknown name on, for the socket to refuse with a clear message', async () => {
    reply = json(200, { status: 'ok', parser: 'cbor' });
    assert.equal(await api.serverParser(), 'cbor');
  });

  it('a server that does not say speaks the Socket.IO default, JSON', async () => {
    reply = json(200, { status: 'ok' });
    assert.equal(await api.serverParser(), 'json');
  });

  it('rejects_a_parser_that_is_not_a_string', async () => {
    reply = json(200, { status: 'ok', parser: 1 });
    await assert.rejects(api.serverParser(), (e) => e instanceof api.ApiError && /not a string/.test(e.message));
  });

  it('rejects_a_body_that_is_not_an_object', async () => {
    reply = json(200, ['ok']);
    await assert.rejects(api.serverParser(), api.ApiError);
    reply = () => new Response('ok', { status: 200 });
    await assert.rejects(api.serverParser(), { message: 'The server sent an unreadable answer.' });
  });

  it('rejects_an_unreachable_or_failing_server', async () => {
    reply = () => { throw new TypeError('fetch failed'); };
    await assert.rejects(api.serverParser(), (e) => e.status === 0);
    reply = json(503, { error: 'starting' });
    await assert.rejects(api.serverParser(), { status: 503, message: 'Starting.' });
  });
});

describe('credentials and session', () => {
  it('validates like the contract', () => {
    assert.equal(api.validateCredentials('al', 'password1') !== null, true);
    assert.equal(api.validateCredentials('a'.repeat(33), 'password1') !== null, true);
    assert.equal(api.validateCredentials('bad name', 'password1') !== null, true);
    assert.equal(api.validateCredentials('good_Name-9', 'short') !== null, true);
    assert.equal(api.validateCredentials('good_Name-9', 'x'.repeat(129)) !== null, true);
    assert.equal(api.validateCredentials('good_Name-9', 'password'), null);
  });

  it('stores, loads and clears the token but remembers the name', () => {
    assert.equal(api.session.load(), null);
    api.session.save('tok', 'alice');
    assert.deepEqual(api.session.load(), { token: 'tok', username: 'alice' });
    api.session.clear();
    assert.equal(api.session.load(), null);
    assert.equal(api.session.lastUsername(), 'alice');
  });

  it('sentence() capitalises and ends with a full stop once', () => {
    assert.equal(api.sentence('taken'), 'Taken.');
    assert.equal(api.sentence('Taken!'), 'Taken!');
  });
});
