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
//   {"loggedOutStatus":401,"loggedInStatus":200,"body":{...},"oauthClientId":"..."}
// Exit 0 on success; on failure exit 1 with the reason, URL, the page's
// uncaught errors, the operation being worked on, a page excerpt and a
// screenshot path on stderr (see chromium.mjs). Progress notes also go to
// stderr.

import {
  log, logInAtProvider, oneLine, runInChromium,
} from './chromium.mjs';

// Per wait inside the page; the overall timeout still bounds the whole run.
const STEP_TIMEOUT_MS = 20_000;

const OPERATION = '/admin/profile';
const OAUTH2_SCHEME = 'CivicOAuth2';

// Set once main starts; the helpers below all work on this one page.
let page;
let docs;
// The operation block being worked on, for the failure report.
let currentOperation;

// On the docs page (Swagger UI's deep links only change the hash).
const isDocs = (url) => {
  const u = new URL(url);
  return u.origin === docs.origin && u.pathname === docs.pathname;
};

// Waits for Swagger UI to have rendered the operations of the spec. A page
// that cannot (say, a broken bundle) fails here; its script errors are in
// the failure report.
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

// What Swagger UI shows of the operation being worked on, if any.
async function reportOperation() {
  if (!currentOperation) return [];
  const block = await currentOperation.innerText({ timeout: 2_000 })
    .catch((err) => `<could not read it: ${err.message.split('\n')[0]}>`);
  return [`  ${OPERATION} operation: ${oneLine(block, 800)}`];
}

runInChromium({
  timeoutMs: 90_000,
  report: reportOperation,
  async main({ page: chromiumPage, appBase, login }) {
    page = chromiumPage;
    docs = new URL(`${appBase}/docs/`);
    const loginUrl = new URL(`${appBase}/auth/login?returnTo=${encodeURIComponent(docs.pathname)}`);

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
    await logInAtProvider(page, login, isDocs, 'the docs');

    // (c) Logged in: 200 and the profile.
    await waitForSwaggerUi();
    const loggedIn = await tryItOut(OPERATION);
    if (loggedIn.status !== 200) {
      throw new Error(`logged in, ${OPERATION} answered ${loggedIn.status} instead of 200`);
    }

    // (d) The Authorize dialog offers the OAuth2 scheme with the client id.
    const oauthClientId = await readOAuthClientId();

    return JSON.stringify({
      loggedOutStatus: loggedOut.status,
      loggedInStatus: loggedIn.status,
      body: loggedIn.body,
      oauthClientId,
    });
  },
});
