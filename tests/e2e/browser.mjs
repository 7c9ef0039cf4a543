#!/usr/bin/env node
// Browser end-to-end test of the bundled client (static/) against a real
// `locus serve`, driven through Debian's headless Chromium with playwright-core.
//
//   node tests/e2e/browser.mjs --locus target/debug/locus --out tests/output/e2e/json
//   node tests/e2e/browser.mjs --locus target/debug/locus --parser msgpack --out tests/output/e2e/msgpack
//
// It starts `<locus> serve --listen 127.0.0.1:<free port> --db <tmp>/locus.db
// --parser <json|msgpack>` itself, and stops (SIGTERM) and restarts it on the
// same port and database. The page must learn the parser from /api/health
// and play the same whichever it is.
// Scenario:
//   1. two browser contexts register two users through the page's form;
//   2. both see each other, with binary snapshots (the page asks for them);
//      A holds the right arrow, B's window.locus shows A
//      moving (several distinct positions), then A's chat line reaches B;
//   3. a screenshot of each page goes to --out;
//   4. reloading A reconnects with the stored token (no form) at the same x,y;
//   5. stopping the server shows "reconnecting" on the page; after a restart
//      both pages reconnect by themselves and A is where it was;
//   6. logging in as A in a third context kicks A's page (notice, no
//      reconnect); the new page continues at A's position;
//   7. B reloads while /api/health names a parser the page does not know: a
//      clear notice, no connection; "Try again" once health is right plays on;
//   8. B logs out: the form is back and the token is gone.
// Exits 0 on success, 1 with "FAIL: <step>: <why>" (plus screenshots and the
// server log tail in --out) on failure. Without /usr/bin/chromium it prints
// "SKIPPED" and exits 0, unless the CI environment variable is set.
//
// Options: --locus PATH (required; may be any executable with the same CLI,
// e.g. tests/js/fake_locus.mjs), --parser json|msgpack (default json),
// --snapshot binary|json: the form the server is expected to send (default
// binary; json for a server that ignores the request, like fake_locus.mjs),
// --out DIR (default tests/output/e2e), --chromium PATH (default
// /usr/bin/chromium), --stop-signal SIGTERM|SIGKILL.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  TIMEOUT, check, connectedOrFormError, die, launchChromium, locusState, openPage, progress, step, submitForm,
  waitIn,
} from './page_kit.mjs';

const { values: opts } = parseArgs({
  options: {
    locus: { type: 'string' },
    out: { type: 'string', default: 'tests/output/e2e' },
    parser: { type: 'string', default: 'json' },
    snapshot: { type: 'string', default: 'binary' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
    'stop-signal': { type: 'string', default: 'SIGTERM' },
  },
});

const POSITION_TOLERANCE = 1.0; // world units; positions are rounded to 0.01 on the wire

if (!opts.locus) die('usage: node tests/e2e/browser.mjs --locus <path to locus binary> [--parser json|msgpack] [--out DIR]');
if (!['json', 'msgpack'].includes(opts.parser)) die(`--parser ${opts.parser}: expected json or msgpack`);
const locusBin = resolve(opts.locus);
if (!existsSync(locusBin)) die(`--locus ${locusBin} does not exist (build it with cargo build)`);

const outDir = resolve(opts.out);
mkdirSync(outDir, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'locus-e2e-'));
const dbPath = join(work, 'locus.db');
const serverLog = join(outDir, 'server.log');

// ------------------------------------------------------------ server process

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

let server = null;
let serverExited = null;
const port = await freePort();
const baseUrl = `http://127.0.0.1:${port}`;

async function startServer() {
  const log = openSync(serverLog, 'a');
  const child = spawn(locusBin, ['serve', '--listen', `127.0.0.1:${port}`, '--db', dbPath, '--parser', opts.parser], {
    stdio: ['ignore', log, log],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info' },
  });
  server = child;
  serverExited = new Promise((res) => child.once('exit', (code, sig) => res({ code, sig })));
  child.once('error', (e) => console.error(`cannot start ${locusBin}: ${e.message}`));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`server exited during start-up (code ${child.exitCode}, signal ${child.signalCode}); see ${serverLog}`);
    }
    let health = null;
    try {
      const r = await fetch(`${baseUrl}/api/health`);
      if (r.status === 200) health = await r.json();
    } catch { /* not up yet */ }
    if (health) {
      if (health.parser !== opts.parser) throw new Error(`/api/health says parser ${JSON.stringify(health.parser)}, expected ${opts.parser}`);
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server did not answer GET /api/health within 30 s; see ${serverLog}`);
}

async function stopServer(signal = opts['stop-signal']) {
  if (!server || server.exitCode !== null || server.signalCode !== null) return;
  server.kill(signal);
  const timer = setTimeout(() => server.kill('SIGKILL'), 10_000);
  await serverExited;
  clearTimeout(timer);
}

// ------------------------------------------------------------ helpers

const pageErrors = [];
/** A console error the current step provokes on purpose (matched against the text). */
let expectedConsoleError = null;
const pages = {};

async function openAndRegister(browser, username, password) {
  const page = await openPage(browser, baseUrl, username, pageErrors, (text) => expectedConsoleError?.test(text));
  await submitForm(page, 'register', username, password);
  const parser = await page.evaluate(() => window.locus.parser);
  check(parser === opts.parser, `${username}'s page speaks the ${parser} parser, the server ${opts.parser}`);
  return page;
}

// ------------------------------------------------------------ scenario

let browser;
let failed = null;
try {
  // Chromium first: without it the run is SKIPPED before any server starts.
  await step('launch chromium', async () => {
    browser = await launchChromium(opts.chromium);
  });

  await step(`start ${locusBin} --parser ${opts.parser} on ${baseUrl}`, startServer);

  const suffix = Math.random().toString(36).slice(2, 8);
  const names = { a: `e2e_a_${suffix}`, b: `e2e_b_${suffix}` };
  const password = 'correct horse battery';

  await step('register and log in two users through the form', async () => {
    pages.a = await openAndRegister(browser, names.a, password);
    pages.b = await openAndRegister(browser, names.b, password);
  });

  const a0 = await locusState(pages.a);
  const idA = String(a0.me.id);
  const idB = String((await locusState(pages.b)).me.id);

  await step('each page sees the other player', async () => {
    await waitIn(pages.b, `${names.a} in B's view`, (id) => id in window.locus.players, idA);
    await waitIn(pages.a, `${names.b} in A's view`, (id) => id in window.locus.players, idB);
    const seen = (await locusState(pages.b)).players[idA];
    check(seen.name === names.a, `B shows A as ${JSON.stringify(seen.name)}, expected ${names.a}`);
  });

  await step(`both pages asked for binary snapshots and play ${opts.snapshot} ones`, async () => {
    for (const [who, page] of Object.entries(pages)) {
      const stats = (await locusState(page)).stats;
      check(stats.snapshotForm === opts.snapshot, `${who} got ${stats.snapshotForm} snapshots, expected ${opts.snapshot}`);
      if (opts.snapshot === 'binary') check(stats.binaryHeld === Object.keys((await locusState(page)).players).length,
        `${who} holds ${stats.binaryHeld} binary indices for ${Object.keys((await locusState(page)).players).length} players in view`);
      check(stats.skipped === 0, `${who} skipped ${stats.skipped} snapshot entries`);
    }
  });

  await step("A holds the right arrow; B's window.locus shows A moving", async () => {
    const start = (await locusState(pages.b)).players[idA].x;
    // Sample inside page B, so a slow test process cannot miss positions.
    await pages.b.evaluate((id) => {
      window.__e2eSeen = new Set();
      window.__e2eTimer = setInterval(() => { const p = window.locus.players[id]; if (p) window.__e2eSeen.add(p.x); }, 10);
    }, idA);
    await pages.a.bringToFront();
    await pages.a.keyboard.down('ArrowRight');
    await new Promise((r) => setTimeout(r, 1200));
    await pages.a.keyboard.up('ArrowRight');
    const moved = await waitIn(pages.b, 'A to have moved at least 100 units right on B',
      ([id, x0]) => window.locus.players[id] && window.locus.players[id].x - x0 >= 100 && window.locus.players[id].x, [idA, start]);
    const seenXs = await pages.b.evaluate(() => { clearInterval(window.__e2eTimer); return [...window.__e2eSeen]; });
    check(seenXs.length >= 5, `B saw only ${seenXs.length} distinct x positions of A while it moved (snapshots not streaming?)`);
    const aMe = (await locusState(pages.a)).me;
    check(aMe.seq > 0, 'A never sent a position event');
    console.log(`\n    A moved from x=${start} to x=${moved} on B's screen (${seenXs.length} distinct positions seen)`);
  });

  let settled;
  await step('A settles: prediction, server position and B agree', async () => {
    settled = await waitIn(pages.a, "A's prediction to match its server position",
      () => {
        const m = window.locus.me;
        return m && m.pending === 0 && Math.abs(m.x - m.serverX) < 0.05 && Math.abs(m.y - m.serverY) < 0.05 && m;
      });
    await waitIn(pages.b, "B's copy of A to match A's server position",
      ([id, x, y]) => { const p = window.locus.players[id]; return p && Math.abs(p.x - x) < 0.05 && Math.abs(p.y - y) < 0.05; },
      [idA, settled.serverX, settled.serverY]);
  });

  await step("A's chat line reaches B with A's name", async () => {
    await pages.a.keyboard.press('Enter');
    await pages.a.keyboard.type('hello from A');
    await pages.a.keyboard.press('Enter');
    await waitIn(pages.b, 'the chat line on B', (name) => window.locus.chat.some((c) => c.name === name && c.text === 'hello from A'), names.a);
  });

  await step(`screenshots of both pages in ${outDir}`, async () => {
    await pages.a.screenshot({ path: join(outDir, 'page-a.png') });
    await pages.b.screenshot({ path: join(outDir, 'page-b.png') });
  });

  await step('reloading A reconnects with the stored token at the same position', async () => {
    const before = (await locusState(pages.a)).me;
    await pages.a.reload();
    await waitIn(pages.a, 'A connected again after reload', () => window.locus.state === 'connected' && window.locus.me !== null);
    check(await pages.a.isHidden('#auth'), 'the login form is showing after a reload although a token was stored');
    const after = (await locusState(pages.a)).me;
    check(Math.abs(after.x - before.serverX) <= POSITION_TOLERANCE && Math.abs(after.y - before.serverY) <= POSITION_TOLERANCE,
      `position after reload (${after.x}, ${after.y}) differs from before (${before.serverX}, ${before.serverY})`);
    await waitIn(pages.b, 'B still sees A after the reload', (id) => id in window.locus.players, idA);
  });

  let beforeStop;
  await step('stopping the server shows "reconnecting" on both pages', async () => {
    beforeStop = (await locusState(pages.a)).me;
    await stopServer();
    for (const key of ['a', 'b']) {
      await waitIn(pages[key], `page ${key} state "reconnecting"`, () => window.locus.state === 'reconnecting');
      const text = await pages[key].textContent('#status-text');
      check(/reconnecting/i.test(text), `page ${key} status reads ${JSON.stringify(text)}, expected "reconnecting…"`);
    }
    await pages.a.screenshot({ path: join(outDir, 'page-a-reconnecting.png') });
  });

  await step('after a restart both pages recover by themselves; A is where it was', async () => {
    await startServer();
    for (const key of ['a', 'b']) {
      await waitIn(pages[key], `page ${key} connected again`, () => window.locus.state === 'connected' && window.locus.me !== null, undefined, 45_000);
    }
    const after = (await locusState(pages.a)).me;
    check(Math.abs(after.x - beforeStop.serverX) <= POSITION_TOLERANCE && Math.abs(after.y - beforeStop.serverY) <= POSITION_TOLERANCE,
      `position after restart (${after.x}, ${after.y}) differs from before (${beforeStop.serverX}, ${beforeStop.serverY})`);
    await waitIn(pages.b, 'B sees A again after the restart', (id) => id in window.locus.players, idA);
    await pages.a.screenshot({ path: join(outDir, 'page-a-recovered.png') });
  });

  await step('logging in as A elsewhere kicks the old page, which stays off; the new one continues at the same place', async () => {
    const before = (await locusState(pages.a)).me;
    const context = await browser.newContext({ viewport: { width: 1280, height: 760 } });
    pages.c = await context.newPage();
    pages.c.on('pageerror', (e) => pageErrors.push(`second ${names.a}: ${e.message}`));
    await pages.c.goto(baseUrl);
    await pages.c.waitForSelector('#auth:not([hidden])', { timeout: TIMEOUT });
    await pages.c.fill('#username', names.a);
    await pages.c.fill('#password', password);
    await pages.c.click('#auth-submit');
    await connectedOrFormError(pages.c, `${names.a} (second page)`);
    await waitIn(pages.a, 'the first page of A to be kicked', () => window.locus.state === 'kicked');
    check(await pages.a.isVisible('#notice'), 'the kicked page shows no notice');
    const c = (await locusState(pages.c)).me;
    check(Math.abs(c.x - before.serverX) <= POSITION_TOLERANCE && Math.abs(c.y - before.serverY) <= POSITION_TOLERANCE,
      `the new session starts at (${c.x}, ${c.y}), not where A was (${before.serverX}, ${before.serverY})`);
    await pages.a.screenshot({ path: join(outDir, 'page-a-kicked.png') });
    check((await pages.c.evaluate(() => window.locus.state)) === 'connected', 'the new page lost its connection: the old one fought back');
  });

  await step('a parser the page does not know gets a clear notice; "Try again" plays once health is right', async () => {
    const context = pages.b.context();
    await context.route('**/api/health', (route) => route.fulfill({
      status: 200, contentType: 'application/json', body: JSON.stringify({ status: 'ok', players_online: 0, tick: 0, persistence: 'ok', parser: 'cbor' }),
    }));
    expectedConsoleError = /"cbor"/;
    try {
      await pages.b.reload();
      await waitIn(pages.b, 'B to refuse the unknown parser', () => window.locus.state === 'incompatible');
      check(await pages.b.isVisible('#notice'), 'no notice for an unknown parser');
      const text = await pages.b.textContent('#notice-text');
      check(/"cbor"/.test(text) && /json and msgpack/.test(text), `the notice reads ${JSON.stringify(text)}`);
      check((await pages.b.textContent('#status-text')) === 'offline', 'the status does not say offline');
      await pages.b.screenshot({ path: join(outDir, 'page-b-unknown-parser.png') });
    } finally {
      await context.unroute('**/api/health');
      expectedConsoleError = null;
    }
    await pages.b.click('#notice-action');
    await waitIn(pages.b, 'B connected again after "Try again"', () => window.locus.state === 'connected' && window.locus.me !== null);
    check((await pages.b.evaluate(() => window.locus.parser)) === opts.parser, 'B came back with another parser');
  });

  await step('B logs out: the form is back and the token is gone', async () => {
    await pages.b.click('#logout');
    await pages.b.waitForSelector('#auth:not([hidden])', { timeout: TIMEOUT });
    const token = await pages.b.evaluate(() => localStorage.getItem('locus.token'));
    check(token === null, 'the token is still in localStorage after logout');
    check((await pages.b.evaluate(() => window.locus.state)) === 'logged-out', 'state is not logged-out');
  });

  check(pageErrors.length === 0, `errors in the pages:\n  ${pageErrors.join('\n  ')}`);
} catch (e) {
  failed = e;
}

// ------------------------------------------------------------ report and clean up

if (failed) {
  console.log('');
  for (const [key, page] of Object.entries(pages)) {
    await page.screenshot({ path: join(outDir, `failure-page-${key}.png`) }).catch(() => {});
  }
}
await browser?.close().catch(() => {});
await stopServer('SIGTERM').catch(() => {});
rmSync(work, { recursive: true, force: true });

if (failed) {
  let tail = '';
  try { tail = readFileSync(serverLog, 'utf8').split('\n').slice(-25).join('\n'); } catch { /* no log */ }
  console.error(`FAIL: ${progress.step}: ${failed.message}`);
  if (pageErrors.length) console.error(`page errors:\n  ${pageErrors.join('\n  ')}`);
  console.error(`screenshots in ${outDir}; server log tail (${serverLog}):\n${tail}`);
  process.exit(1);
}
console.log(`PASS: browser end-to-end with the ${opts.parser} parser and binary snapshots (screenshots in ${outDir})`);
