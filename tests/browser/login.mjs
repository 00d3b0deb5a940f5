// Drives a real headless Chromium through "Log in with Civic" against the
// local test provider (tests/provider/provider.mjs):
//
//   node tests/browser/login.mjs <appBaseUrl> <login>
//
// Opens <appBaseUrl>/admin/profile, lets the app redirect to the provider,
// fills the dev login form and the consent form, waits to be back on
// /admin/profile and prints that page's body as the last stdout line.
// Exit 0 on success; on failure exit 1 with the reason, URL, a page excerpt
// and a screenshot path on stderr. Progress notes also go to stderr.

import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';

import { chromium } from 'playwright-core';

const OVERALL_TIMEOUT_MS = 60_000;
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

const log = (...args) => console.error('login.mjs:', ...args);

const [appBaseArg, login] = process.argv.slice(2);
if (!appBaseArg || !login) {
  console.error('usage: node tests/browser/login.mjs <appBaseUrl> <login>');
  process.exit(2);
}
const appBase = appBaseArg.replace(/\/+$/, '');
const target = new URL(`${appBase}/admin/profile`);

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

const isTarget = (url) => {
  const u = new URL(url);
  return u.origin === target.origin && u.pathname === target.pathname;
};

let context;
let page;
let profileDir;
let finished = false;

async function cleanup() {
  await context?.close().catch(() => {});
  if (profileDir) await fs.rm(profileDir, { recursive: true, force: true }).catch(() => {});
}

async function fail(message) {
  if (finished) return;
  finished = true;
  // Backstop in case the browser itself hangs while we collect evidence.
  setTimeout(() => process.exit(1), 10_000).unref();

  const lines = [`login.mjs: FAILED: ${message}`];
  if (page && !page.isClosed()) {
    lines.push(`  current URL: ${page.url()}`);
    const excerpt = await page.evaluate(() => document.body?.innerText ?? '')
      .catch((err) => `<could not read page: ${err.message}>`);
    lines.push(`  page excerpt: ${excerpt.replace(/\s+/g, ' ').trim().slice(0, 600)}`);
    try {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'civic-login-failure-'));
      const file = path.join(dir, 'screenshot.png');
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

// One step of the flow; returns true once we are back on the target page.
async function step() {
  await page.waitForLoadState('load');
  const before = page.url();
  if (isTarget(before)) return true;

  const loginForm = page.locator('form:has(input[name="prompt"][value="login"])');
  const consentForm = page.locator('form:has(input[name="prompt"][value="consent"])');

  if (await loginForm.count()) {
    log(`login form at ${before}`);
    await loginForm.locator('input[name="login"]').fill(login);
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
    throw new Error('stuck on an unexpected page');
  });
  return false;
}

async function main() {
  profileDir = await fs.mkdtemp(path.join(os.tmpdir(), 'civic-login-profile-'));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: OVERALL_TIMEOUT_MS,
  });
  context.setDefaultTimeout(OVERALL_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(OVERALL_TIMEOUT_MS);
  await context.route('**/*', (route) => (isLoopback(route.request().url())
    ? route.continue()
    : route.abort('blockedbyclient')));

  page = context.pages()[0] ?? await context.newPage();

  // Keep the last top-level document response so the app's exact bytes can
  // be printed (Chromium's JSON viewer adds its own text to the DOM).
  let lastDocument;
  page.on('response', (response) => {
    const request = response.request();
    if (request.isNavigationRequest() && request.frame() === page.mainFrame()) {
      lastDocument = response;
    }
  });

  log(`opening ${target.href}`);
  await page.goto(target.href);

  for (let steps = 0; !(await step()); steps += 1) {
    if (steps > 10) throw new Error('too many steps without reaching the app');
  }

  const status = lastDocument && isTarget(lastDocument.url()) ? lastDocument.status() : undefined;
  let body = lastDocument && isTarget(lastDocument.url())
    ? await lastDocument.text().catch(() => undefined)
    : undefined;
  body ??= await page.evaluate(() => document.querySelector('body > pre')?.textContent
    ?? document.body.innerText);

  if (status !== undefined && (status < 200 || status > 299)) {
    throw new Error(`app answered ${target.pathname} with HTTP ${status}: ${body.slice(0, 300)}`);
  }

  // The caller reads the last stdout line: keep the body on one line.
  let line = body.trim();
  if (line.includes('\n')) {
    try {
      line = JSON.stringify(JSON.parse(line));
    } catch {
      line = line.replace(/\s*\n\s*/g, ' ');
    }
  }

  finished = true;
  await cleanup();
  process.stdout.write(`${line}\n`);
  process.exit(0);
}

setTimeout(() => fail(`overall timeout of ${OVERALL_TIMEOUT_MS / 1000}s exceeded`), OVERALL_TIMEOUT_MS).unref();
main().catch((err) => fail(err.message.split('\n')[0]));
