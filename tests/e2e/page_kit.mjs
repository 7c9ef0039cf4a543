// What the browser end-to-end scenarios share: Chromium and playwright-core
// (or SKIPPED without them, a failure under CI), named steps, checks, and
// waiting on the bundled page's `window.locus`.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

/** Generous: CI is a noisy 2-core machine. */
export const TIMEOUT = 20_000;

/** Prints `FAIL: message` and exits 1. */
export function die(message) {
  console.error(`FAIL: ${message}`);
  process.exit(1);
}

/** Prints SKIPPED and exits 0, or fails when the CI environment variable is set. */
function skip(why) {
  if (process.env.CI) die(`${why} (CI is set, so this is a failure)`);
  console.log('='.repeat(72));
  console.log(`SKIPPED: ${why}`);
  console.log('='.repeat(72));
  process.exit(0);
}

/** playwright-core's chromium, launched headless from `executable` (Debian's by default). */
export async function launchChromium(executable = '/usr/bin/chromium') {
  if (!existsSync(executable)) skip(`chromium not installed at ${executable}; install Debian's chromium to run this test`);
  let chromium;
  try {
    const require = createRequire(new URL('../package.json', import.meta.url));
    ({ chromium } = require('playwright-core'));
  } catch {
    skip('playwright-core is missing: run bash tests/run.sh (it runs npm ci in tests/)');
  }
  return chromium.launch({
    executablePath: executable,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** The step running now, for the failure line. */
export const progress = { step: 'start-up' };

/** Runs one named step, printing its name and time. */
export async function step(name, fn) {
  progress.step = name;
  const t0 = Date.now();
  process.stdout.write(`- ${name} ... `);
  await fn();
  console.log(`ok (${Date.now() - t0} ms)`);
}

/** Throws `message` unless `cond`. */
export function check(cond, message) {
  if (!cond) throw new Error(message);
}

/** Waits until `fn(arg)` is truthy in the page; the error says what we waited for. */
export async function waitIn(page, what, fn, arg, timeout = TIMEOUT) {
  try {
    return await (await page.waitForFunction(fn, arg, { timeout, polling: 50 })).jsonValue();
  } catch {
    const state = await page.evaluate(() => ({ state: window.locus?.state, me: window.locus?.me, reason: window.locus?.lastReason })).catch(() => ({}));
    throw new Error(`timed out after ${timeout} ms waiting for ${what} (page state: ${JSON.stringify(state)})`);
  }
}

/** What the page's `window.locus` says now. */
export const locusState = (page) => page.evaluate(() => ({
  state: window.locus.state,
  url: window.locus.url,
  me: window.locus.me,
  players: window.locus.players,
  chat: window.locus.chat,
  stats: window.locus.stats,
}));

/** Waits for the game, but fails at once with the form's message (e.g. a 429) if one appears. */
export async function connectedOrFormError(page, who) {
  const outcome = await waitIn(page, `${who} to be connected`, () => {
    const err = document.getElementById('auth-error');
    if (err && !err.hidden && err.textContent) return `form error: ${err.textContent}`;
    return window.locus.state === 'connected' && window.locus.me !== null && 'connected';
  });
  if (outcome !== 'connected') throw new Error(`${who} could not log in: ${outcome}`);
}

/**
 * A new browser context's page at `url`; its uncaught errors and console
 * errors go to `errors` (not the browser's own network noise, nor what
 * `ignored(text)` accepts).
 */
export async function openPage(browser, url, who, errors, ignored = () => false) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 760 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(`${who}: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error' || /net::ERR_|Failed to load resource/.test(m.text())) return;
    if (ignored(m.text())) return;
    errors.push(`${who} console: ${m.text()}`);
  });
  await page.goto(url);
  return page;
}

/** Fills the page's form on `tab` ('login' or 'register') and waits for the game. */
export async function submitForm(page, tab, username, password) {
  await page.waitForSelector('#auth:not([hidden])', { timeout: TIMEOUT });
  await page.click(`#tab-${tab}`);
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('#auth-submit');
  await connectedOrFormError(page, username);
}
