// Drives a real headless Chromium through the API example's Swagger UI
// (examples/openapi.rs) against the local test provider
// (tests/provider/provider.mjs):
//
//   node tests/browser/swagger.mjs <appBaseUrl> <login>
//
// 1. Opens <appBaseUrl>/docs/ and, in the `/admin/profile` operation, clicks
//    "Try it out" and "Execute": logged out, the UI must show the documented
//    401.
// 2. Logs in through <appBaseUrl>/auth/login?returnTo=/docs/, filling the
//    provider's dev login form and consent form, until back on /docs/.
// 3. "Try it out" and "Execute" again: the UI must show 200 and the profile
//    (the browser's session cookie goes with Swagger's same-origin fetch).
// 4. Opens the Authorize dialog and reads the client id prefilled for the
//    `CivicOAuth2` scheme (without starting the OAuth popup flow).
//
// Prints one JSON line as the last stdout line:
//   {"loggedOutStatus":401,"loggedInStatus":200,"body":{...},"oauthClientId":"...","workarounds":[...]}
// `workarounds` names each repair the script had to make to the app's pages
// (empty when the pages work as served).
//
// Known defect it can repair: civic-auth-poem's `ApiDocs` cuts poem-openapi's
// Swagger UI page at the first "<body>", which is inside the Swagger UI
// bundle (DOMPurify's '<head></head><body>' string), so the served /docs/
// page holds a truncated bundle and a SyntaxError ("Unexpected identifier
// '#ui'") and renders nothing. With SWAGGER_UI_REFERENCE_HTML naming a file
// with poem-openapi's own, intact Swagger UI page (tests/swagger.rs writes
// one), the script puts the missing part of the bundle back, only when the
// served page shows exactly that defect, and lists the repair in
// `workarounds`.
// Exit 0 on success; on failure exit 1 with the reason, URL, a page excerpt
// and a screenshot path on stderr. Progress notes also go to stderr.

import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';

import { chromium } from 'playwright-core';

const OVERALL_TIMEOUT_MS = 90_000;
// Per wait inside the page; the overall timeout still bounds the whole run.
const STEP_TIMEOUT_MS = 20_000;
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

const OPERATION = '/admin/profile';
const OAUTH2_SCHEME = 'CivicOAuth2';

const log = (...args) => console.error('swagger.mjs:', ...args);

const [appBaseArg, login] = process.argv.slice(2);
if (!appBaseArg || !login) {
  console.error('usage: node tests/browser/swagger.mjs <appBaseUrl> <login>');
  process.exit(2);
}
const appBase = appBaseArg.replace(/\/+$/, '');
const docs = new URL(`${appBase}/docs/`);
const loginUrl = new URL(`${appBase}/auth/login?returnTo=${encodeURIComponent(docs.pathname)}`);

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

// On the docs page (Swagger UI's deep links only change the hash).
const isDocs = (url) => {
  const u = new URL(url);
  return u.origin === docs.origin && u.pathname === docs.pathname;
};

let context;
let page;
let profileDir;
let finished = false;
// Uncaught errors of the app's pages, for the failure report.
const pageErrors = [];
const workarounds = [];
// Set by installDocsRepair: whether a served docs page shows the defect.
let isTruncatedDocs = () => false;
// The operation block being worked on, for the failure report.
let currentOperation;

async function cleanup() {
  await context?.close().catch(() => {});
  if (profileDir) await fs.rm(profileDir, { recursive: true, force: true }).catch(() => {});
}

const oneLine = (text, max) => text.replace(/\s+/g, ' ').trim().slice(0, max);

async function fail(message) {
  if (finished) return;
  finished = true;
  // Backstop in case the browser itself hangs while we collect evidence.
  setTimeout(() => process.exit(1), 10_000).unref();

  const lines = [`swagger.mjs: FAILED: ${message}`];
  if (page && !page.isClosed()) {
    lines.push(`  current URL: ${page.url()}`);
    for (const err of pageErrors.slice(-5)) lines.push(`  page error: ${err}`);
    if (currentOperation) {
      const block = await currentOperation.innerText({ timeout: 2_000 })
        .catch((err) => `<could not read it: ${err.message.split('\n')[0]}>`);
      lines.push(`  ${OPERATION} operation: ${oneLine(block, 800)}`);
    }
    const excerpt = await page.evaluate(() => document.body?.innerText ?? '')
      .catch((err) => `<could not read page: ${err.message}>`);
    lines.push(`  page excerpt: ${oneLine(excerpt, 600)}`);
    try {
      const file = path.join(os.tmpdir(), `civic-swagger-failure-${process.pid}.png`);
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

// Repairs the served /docs/ page if, and only if, its Swagger UI bundle is
// cut where poem-openapi's bundle first says "<body>" (see the top).
async function installDocsRepair() {
  const referenceFile = process.env.SWAGGER_UI_REFERENCE_HTML;
  if (!referenceFile) return;
  const reference = await fs.readFile(referenceFile, 'utf8');
  const open = '<script charset="UTF-8">';
  const bundleStart = reference.indexOf(open) + open.length;
  const bundleEnd = reference.indexOf('</script>', bundleStart);
  // The real <body> of poem-openapi's template comes after the bundle.
  const referenceHead = reference.slice(0, reference.lastIndexOf('<body>'));
  if (bundleStart < open.length || bundleEnd < 0 || referenceHead.length < bundleEnd) {
    throw new Error(`${referenceFile} is not poem-openapi's Swagger UI page`);
  }
  const bundleTail = reference.slice(bundleEnd - 200, bundleEnd);
  isTruncatedDocs = (html) => {
    const cut = html.indexOf('<body>');
    return !html.includes(bundleTail) && cut > 0 && referenceHead.startsWith(html.slice(0, cut));
  };

  // Playwright routes no request a redirect leads to: landing on /docs/
  // from /auth/callback is checked, and reloaded if need be, after login.
  await page.route((url) => isDocs(url.href), async (route) => {
    if (!route.request().isNavigationRequest()) return route.fallback();
    const response = await route.fetch();
    const html = await response.text();
    if (!isTruncatedDocs(html)) return route.fulfill({ response, body: html });
    const cut = html.indexOf('<body>');
    const repair = `${docs.pathname}: Swagger UI bundle cut at its first "<body>" `
      + `(${cut} of ${referenceHead.length} head bytes served); restored from poem-openapi's page`;
    if (!workarounds.includes(repair)) workarounds.push(repair);
    log(`WORKAROUND: ${repair}`);
    return route.fulfill({ response, body: referenceHead + html.slice(cut) });
  });
}

// Waits for Swagger UI to have rendered the operations of the spec.
async function waitForSwaggerUi() {
  await page.waitForLoadState('load');
  if (!isDocs(page.url())) throw new Error(`expected the docs page, not ${page.url()}`);
  await page.locator('#ui .swagger-ui .opblock').first()
    .waitFor({ timeout: STEP_TIMEOUT_MS })
    .catch(() => { throw new Error('Swagger UI rendered no operations'); });
}

// Expands the operation for `opPath` and returns its block.
async function openOperation(opPath) {
  const operation = page.locator(`.opblock:has(.opblock-summary-path[data-path="${opPath}"])`);
  currentOperation = operation.first();
  const count = await operation.count();
  if (count !== 1) throw new Error(`expected one ${opPath} operation in Swagger UI, found ${count}`);
  if (!(await operation.locator('.opblock-body').count())) {
    await operation.locator('.opblock-summary-path').click();
  }
  await operation.locator('.opblock-body').waitFor({ timeout: STEP_TIMEOUT_MS });
  return operation;
}

// "Try it out" then "Execute" on `opPath`; returns what the UI shows of the
// live response: status, body text, and the status the network saw.
async function tryItOut(opPath) {
  const operation = await openOperation(opPath);
  await operation.getByRole('button', { name: 'Try it out' }).click();
  const execute = operation.getByRole('button', { name: 'Execute' });
  await execute.waitFor({ timeout: STEP_TIMEOUT_MS });

  const [response] = await Promise.all([
    page.waitForResponse((r) => {
      const u = new URL(r.url());
      return u.origin === docs.origin && u.pathname === opPath;
    }, { timeout: STEP_TIMEOUT_MS }),
    execute.click(),
  ]);

  const statusCell = operation.locator('.live-responses-table .response .response-col_status').first();
  await statusCell.waitFor({ timeout: STEP_TIMEOUT_MS })
    .catch(() => { throw new Error(`no live response shown for ${opPath} (network: HTTP ${response.status()})`); });
  const statusText = (await statusCell.innerText()).trim();
  const status = Number.parseInt(statusText, 10);

  const bodyBlock = operation
    .locator('.live-responses-table .response-col_description .highlight-code pre, .live-responses-table .response-col_description pre')
    .first();
  await bodyBlock.waitFor({ timeout: STEP_TIMEOUT_MS })
    .catch(() => { throw new Error(`no response body shown for ${opPath} (status ${statusText})`); });
  const bodyText = (await bodyBlock.innerText()).trim();
  let body;
  try {
    body = JSON.parse(bodyText);
  } catch {
    throw new Error(`the response body shown for ${opPath} is not JSON: ${oneLine(bodyText, 300)}`);
  }
  log(`${opPath}: UI shows ${statusText}, network saw ${response.status()}, body ${JSON.stringify(body)}`);
  if (status !== response.status()) {
    throw new Error(`UI shows ${statusText} for ${opPath}, the network saw HTTP ${response.status()}`);
  }
  return { operation, status, body };
}

// One step of the login; returns true once we are back on the docs page.
async function loginStep() {
  await page.waitForLoadState('load');
  const before = page.url();
  if (isDocs(before)) return true;

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

  // Redirect pages and the like move on by themselves; anything that does
  // not is a page we do not know.
  await page.waitForURL((u) => u.href !== before, { timeout: 5_000 }).catch(() => {
    throw new Error('stuck on an unexpected page during login');
  });
  return false;
}

// Opens the Authorize dialog and reads the client id prefilled for the
// OAuth2 scheme; closes the dialog again without authorizing.
async function readOAuthClientId() {
  currentOperation = undefined;
  const authorize = page.locator('.scheme-container button.authorize, .auth-wrapper button.authorize').first();
  await authorize.waitFor({ timeout: STEP_TIMEOUT_MS })
    .catch(() => { throw new Error('no Authorize button in Swagger UI'); });
  await authorize.click();
  const dialog = page.locator('.dialog-ux .modal-ux');
  await dialog.waitFor({ timeout: STEP_TIMEOUT_MS });
  const scheme = dialog.locator('.auth-container')
    .filter({ has: page.locator('h4', { hasText: OAUTH2_SCHEME }) });
  if ((await scheme.count()) !== 1) {
    const names = await dialog.locator('.auth-container h4').allInnerTexts();
    throw new Error(`the Authorize dialog does not list ${OAUTH2_SCHEME} once: ${JSON.stringify(names)}`);
  }
  const clientIdInput = scheme.locator('input#client_id, input[data-name="clientId"]').first();
  await clientIdInput.waitFor({ timeout: STEP_TIMEOUT_MS })
    .catch(() => { throw new Error(`no client_id field for ${OAUTH2_SCHEME} in the Authorize dialog`); });
  const clientId = await clientIdInput.inputValue();
  log(`Authorize dialog: ${OAUTH2_SCHEME} with client_id ${JSON.stringify(clientId)}`);
  await dialog.locator('button.close-modal').first().click().catch(() => {});
  return clientId;
}

async function main() {
  profileDir = await fs.mkdtemp(path.join(os.tmpdir(), 'civic-swagger-profile-'));
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
  page.on('pageerror', (err) => {
    const text = `${page.url()}: ${err.message.split('\n')[0]}`;
    pageErrors.push(text);
    log(`page error at ${text}`);
  });
  page.on('console', (msg) => {
    if (msg.type() === 'error') log(`console error at ${page.url()}: ${msg.text().split('\n')[0]}`);
  });

  // The last top-level document, to check the page the login lands on.
  let lastDocument;
  page.on('response', (response) => {
    const request = response.request();
    if (request.isNavigationRequest() && request.frame() === page.mainFrame()) {
      lastDocument = response;
    }
  });

  await installDocsRepair();

  // (a) Logged out: the documented 401.
  log(`opening ${docs.href}`);
  await page.goto(docs.href);
  await waitForSwaggerUi();
  const loggedOut = await tryItOut(OPERATION);
  if (loggedOut.status !== 401) {
    throw new Error(`logged out, ${OPERATION} answered ${loggedOut.status} instead of 401`);
  }
  const documented = loggedOut.operation
    .locator('.responses-table:not(.live-responses-table) tr.response[data-code="401"]');
  if (!(await documented.count())) {
    throw new Error(`Swagger UI documents no 401 response for ${OPERATION}`);
  }

  // (b) Log in and come back to the docs.
  currentOperation = undefined;
  log(`opening ${loginUrl.href}`);
  await page.goto(loginUrl.href);
  for (let steps = 0; !(await loginStep()); steps += 1) {
    if (steps > 10) throw new Error('too many steps without getting back to the docs');
  }
  log(`back on ${page.url()}`);
  const landing = await lastDocument?.text().catch(() => undefined);
  if (landing !== undefined && isTruncatedDocs(landing)) {
    const repair = `${docs.pathname} after the login redirect: same cut bundle; reloaded to repair it`;
    workarounds.push(repair);
    log(`WORKAROUND: ${repair}`);
    await page.reload();
  }

  // (c) Logged in: 200 and the profile.
  await waitForSwaggerUi();
  const loggedIn = await tryItOut(OPERATION);
  if (loggedIn.status !== 200) {
    throw new Error(`logged in, ${OPERATION} answered ${loggedIn.status} instead of 200`);
  }

  // (d) The Authorize dialog offers the OAuth2 scheme with the client id.
  const oauthClientId = await readOAuthClientId();

  const result = {
    loggedOutStatus: loggedOut.status,
    loggedInStatus: loggedIn.status,
    body: loggedIn.body,
    oauthClientId,
    workarounds,
  };
  finished = true;
  await cleanup();
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

setTimeout(() => fail(`overall timeout of ${OVERALL_TIMEOUT_MS / 1000}s exceeded`), OVERALL_TIMEOUT_MS).unref();
main().catch((err) => fail(err.message.split('\n')[0]));
