#!/usr/bin/env node
// Browser end-to-end test of the bundled client across two cluster nodes
// (issue 13), driven by tests/cluster_browser.rs, which starts the nodes
// and places two accounts either side of a border between regions held by
// two different nodes. Debian's headless Chromium with playwright-core.
//
//   node tests/e2e/cluster_browser.mjs --a URL_A --b URL_B --user-a NAME --user-b NAME
//     --password PW --dir DX,DY --out DIR
//
// Scenario:
//   1. page A is served by node A and logs in as user A (whose region node A
//      holds), page B by node B as user B: each plays on its own node;
//   2. each page sees the other player, simulated by the other node;
//   3. A's chat line reaches B across the border;
//   4. A holds the arrow key pointing across the border (DX,DY) until its
//      page is handed over to node B (`migrate`): its socket now talks to
//      node B, it never went back across the border (its server position
//      only moved forward), and B's page never lost A from view;
//   5. screenshots of both pages in --out.
// Exits 0 on success, 1 with "FAIL: <step>: <why>" on failure; SKIPPED
// without Chromium unless CI is set (see page_kit.mjs).

import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  check, die, launchChromium, locusState, openPage, progress, step, submitForm, waitIn,
} from './page_kit.mjs';

const { values: opts } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string' },
    'user-a': { type: 'string' },
    'user-b': { type: 'string' },
    password: { type: 'string' },
    dir: { type: 'string' },
    out: { type: 'string', default: 'tests/output/e2e/cluster' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
  },
});
for (const key of ['a', 'b', 'user-a', 'user-b', 'password', 'dir']) {
  if (!opts[key]) die(`--${key} is required`);
}
const [dx, dy] = opts.dir.split(',').map(Number);
const KEYS = { '1,0': 'ArrowRight', '-1,0': 'ArrowLeft', '0,1': 'ArrowDown', '0,-1': 'ArrowUp' };
const key = KEYS[`${dx},${dy}`];
if (!key) die(`--dir ${opts.dir}: expected one of ${Object.keys(KEYS).join(' ')}`);
const outDir = resolve(opts.out);
mkdirSync(outDir, { recursive: true });
const strip = (url) => url.replace(/\/$/, '');

const pageErrors = [];
const pages = {};

async function openAndLogIn(browser, url, username) {
  const page = await openPage(browser, url, username, pageErrors);
  await submitForm(page, 'login', username, opts.password);
  return page;
}

let browser;
let failed = null;
try {
  await step('launch chromium', async () => {
    browser = await launchChromium(opts.chromium);
  });

  await step('each page logs in on its own node', async () => {
    pages.a = await openAndLogIn(browser, opts.a, opts['user-a']);
    pages.b = await openAndLogIn(browser, opts.b, opts['user-b']);
    for (const [who, url] of [['a', opts.a], ['b', opts.b]]) {
      const s = await locusState(pages[who]);
      check(strip(s.url) === strip(url), `page ${who} plays on ${s.url}, expected ${url}`);
    }
  });

  const idA = String((await locusState(pages.a)).me.id);
  const idB = String((await locusState(pages.b)).me.id);

  await step('each page sees the other player across the border', async () => {
    await waitIn(pages.a, 'B in A\'s view', (id) => id in window.locus.players, idB);
    await waitIn(pages.b, 'A in B\'s view', (id) => id in window.locus.players, idA);
    const seen = (await locusState(pages.b)).players[idA];
    check(seen.name === opts['user-a'], `B shows A as ${JSON.stringify(seen.name)}`);
  });

  await step("A's chat line reaches B across the border", async () => {
    await pages.a.bringToFront();
    await pages.a.keyboard.press('Enter');
    await pages.a.keyboard.type('hello across the border');
    await pages.a.keyboard.press('Enter');
    await waitIn(pages.b, 'the chat line on B',
      (name) => window.locus.chat.some((c) => c.name === name && c.text === 'hello across the border'), opts['user-a']);
  });

  await step(`A walks across (${key}) and is handed over to B's node without going back; B never loses A`, async () => {
    // Watch inside the pages, so a slow test process cannot miss anything.
    await pages.b.evaluate((id) => {
      window.__e2eMissing = 0;
      window.__e2eTimer = setInterval(() => { if (!(id in window.locus.players)) window.__e2eMissing += 1; }, 10);
    }, idA);
    await pages.a.evaluate(([ddx, ddy]) => {
      window.__e2eBack = 0;
      window.__e2eBackSeen = [];
      window.__e2eLast = null;
      window.__e2eTimer = setInterval(() => {
        const m = window.locus.me;
        if (!m || window.locus.state !== 'connected') return;
        const along = m.serverX * ddx + m.serverY * ddy;
        if (window.__e2eLast !== null && along < window.__e2eLast - 0.5) {
          window.__e2eBack += 1;
          window.__e2eBackSeen.push({ from: window.__e2eLast, to: along, url: window.locus.url, ack: m.ack });
        }
        window.__e2eLast = along;
      }, 10);
    }, [dx, dy]);
    await pages.a.bringToFront();
    await pages.a.keyboard.down(key);
    try {
      await waitIn(pages.a, "A's page to play on B's node",
        (url) => window.locus.state === 'connected' && window.locus.url?.replace(/\/$/, '') === url, strip(opts.b), 45_000);
    } finally {
      await pages.a.keyboard.up(key);
    }
    await waitIn(pages.a, 'A to have snapshots from B\'s node with B in view', (id) => id in window.locus.players, idB);
    const [back, backSeen] = await pages.a.evaluate(() => {
      clearInterval(window.__e2eTimer);
      return [window.__e2eBack, window.__e2eBackSeen];
    });
    const missing = await pages.b.evaluate(() => { clearInterval(window.__e2eTimer); return window.__e2eMissing; });
    check(back === 0, `A's server position went back across the border ${back} times: ${JSON.stringify(backSeen)}`);
    check(missing === 0, `B lost A from view ${missing} times (10 ms samples) while A was handed over`);
    const stats = (await locusState(pages.a)).stats;
    console.log(`\n    A now plays on ${(await locusState(pages.a)).url} (reconnects counted: ${stats.reconnects})`);
  });

  await step(`screenshots of both pages in ${outDir}`, async () => {
    await pages.a.screenshot({ path: join(outDir, 'cluster-page-a.png') });
    await pages.b.screenshot({ path: join(outDir, 'cluster-page-b.png') });
  });

  check(pageErrors.length === 0, `errors in the pages: ${pageErrors.join(' | ')}`);
} catch (e) {
  failed = `${progress.step}: ${e.message}`;
  for (const [who, page] of Object.entries(pages)) {
    await page.screenshot({ path: join(outDir, `failed-${who}.png`) }).catch(() => {});
  }
} finally {
  await browser?.close().catch(() => {});
}
if (failed) die(failed);
console.log('PASS');
