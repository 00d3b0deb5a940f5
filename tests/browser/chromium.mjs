// What the headless-browser drivers (login.mjs, swagger.mjs) share: Debian's
// Chromium driven by playwright-core in a throwaway profile, loopback-only
// traffic, one overall deadline, a failure report a test log can act on, and
// the way through the test provider's (tests/provider/provider.mjs) dev
// login and consent forms.
//
// A driver is run as `node tests/browser/<script> <appBaseUrl> <login>` and
// calls runInChromium once; what its `main` resolves to is printed as the
// last stdout line, everything else goes to stderr.

import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';

import { chromium } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// The driver's file name, so interleaved test output says who wrote a line.
const SCRIPT = path.basename(process.argv[1] ?? 'chromium.mjs');
const NAME = SCRIPT.replace(/\.mjs$/, '');

export const log = (...args) => console.error(`${SCRIPT}:`, ...args);

export const oneLine = (text, max) => text.replace(/\s+/g, ' ').trim().slice(0, max);

// Only loopback traffic: the provider's pages @import Google Fonts, and the
// test machines have no other network anyway, so fail those fast instead of
// letting them stall the page load.
function isLoopback(url) {
  try {
    const { protocol, hostname } = new URL(url);
    if (protocol === 'data:' || protocol === 'blob:' || protocol === 'about:') return true;
    return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
  } catch {
    return false;
  }
}

// Parses `<appBaseUrl> <login>`, opens Chromium and runs
// `main({ page, appBase, login })`; prints the line it resolves to and exits
// 0. On an error or after `timeoutMs` it exits 1 with the reason, the URL,
// the page's uncaught errors, the lines `report()` adds, a page excerpt and
// a screenshot path on stderr. Either way the profile is removed.
export function runInChromium({ timeoutMs, main, report = async () => [] }) {
  const [appBaseArg, login] = process.argv.slice(2);
  if (!appBaseArg || !login) {
    console.error(`usage: node tests/browser/${SCRIPT} <appBaseUrl> <login>`);
    process.exit(2);
  }
  const appBase = appBaseArg.replace(/\/+$/, '');

  let context;
  let page;
  let profileDir;
  let finished = false;
  const pageErrors = [];

  async function cleanup() {
    await context?.close().catch(() => {});
    if (profileDir) await fs.rm(profileDir, { recursive: true, force: true }).catch(() => {});
  }

  async function fail(message) {
    if (finished) return;
    finished = true;
    // Backstop in case the browser itself hangs while we collect evidence.
    setTimeout(() => process.exit(1), 10_000).unref();

    const lines = [`${SCRIPT}: FAILED: ${message}`];
    if (page && !page.isClosed()) {
      lines.push(`  current URL: ${page.url()}`);
      for (const err of pageErrors.slice(-5)) lines.push(`  page error: ${err}`);
      lines.push(...await report().catch((err) => [`  <report failed: ${err.message}>`]));
      const excerpt = await page.evaluate(() => document.body?.innerText ?? '')
        .catch((err) => `<could not read page: ${err.message}>`);
      lines.push(`  page excerpt: ${oneLine(excerpt, 600)}`);
      try {
        const file = path.join(os.tmpdir(), `civic-${NAME}-failure-${process.pid}.png`);
        await page.screenshot({ path: file, fullPage: true, timeout: 5_000 });
        lines.push(`  screenshot: ${file}`);
      } catch (err) {
        lines.push(`  screenshot: not taken (${err.message.split('\n')[0]})`);
      }
    }
    console.error(lines.join('\n'));
    await cleanup();
    process.exit(1);
  }

  async function run() {
    // A fresh profile each run: no cookies or cache from an earlier one.
    profileDir = await fs.mkdtemp(path.join(os.tmpdir(), `civic-${NAME}-profile-`));
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: timeoutMs,
      // https apps in tests are served with a certificate the test made
      // (tests/browser/tls_proxy.mjs), on loopback only.
      ignoreHTTPSErrors: true,
    });
    context.setDefaultTimeout(timeoutMs);
    context.setDefaultNavigationTimeout(timeoutMs);
    await context.route('**/*', (route) => (isLoopback(route.request().url())
      ? route.continue()
      : route.abort('blockedbyclient')));

    page = context.pages()[0] ?? await context.newPage();
    // A page that throws usually explains why it rendered nothing.
    page.on('pageerror', (err) => {
      const text = `${page.url()}: ${err.message.split('\n')[0]}`;
      pageErrors.push(text);
      log(`page error at ${text}`);
    });
    page.on('console', (msg) => {
      if (msg.type() === 'error') log(`console error at ${page.url()}: ${msg.text().split('\n')[0]}`);
    });

    const line = await main({ page, appBase, login });
    finished = true;
    await cleanup();
    process.stdout.write(`${line}\n`);
    process.exit(0);
  }

  setTimeout(() => fail(`overall timeout of ${timeoutMs / 1000}s exceeded`), timeoutMs).unref();
  run().catch((err) => fail(err.message.split('\n')[0]));
}

// One step through the provider; true once `isBack(url)` holds.
async function providerStep(page, login, isBack) {
  await page.waitForLoadState('load');
  const before = page.url();
  if (isBack(before)) return true;

  const loginForm = page.locator('form:has(input[name="prompt"][value="login"])');
  const consentForm = page.locator('form:has(input[name="prompt"][value="consent"])');

  if (await loginForm.count()) {
    log(`login form at ${before}`);
    await loginForm.locator('input[name="login"]').fill(login);
    // The dev provider takes any password.
    await loginForm.locator('input[name="password"]').fill('any-password');
    await Promise.all([
      page.waitForURL((u) => u.href !== before),
      loginForm.locator('button[type="submit"]').click(),
    ]);
    return false;
  }

  if (await consentForm.count()) {
    log(`consent form at ${before}`);
    await Promise.all([
      page.waitForURL((u) => u.href !== before),
      consentForm.locator('button[type="submit"]').click(),
    ]);
    return false;
  }

  if ((await page.title()).startsWith('oops!')) {
    throw new Error('the provider rendered an error page');
  }

  // Redirect pages, auto-submitting form_post pages and the like move on by
  // themselves; anything that does not is a page we do not know.
  await page.waitForURL((u) => u.href !== before, { timeout: 5_000 }).catch(() => {
    throw new Error('stuck on an unexpected page during login');
  });
  return false;
}

// From wherever the login started (the page is on its way to the provider),
// logs in as `login` and consents, until back where `isBack(url)` holds;
// `destination` names that place in errors.
export async function logInAtProvider(page, login, isBack, destination) {
  for (let steps = 0; !(await providerStep(page, login, isBack)); steps += 1) {
    if (steps > 10) throw new Error(`too many steps without getting back to ${destination}`);
  }
  log(`back on ${page.url()}`);
}
