// Drives a real headless Chromium through "Log in with Civic" against the
// local test provider (tests/provider/provider.mjs):
//
//   node tests/browser/login.mjs <appBaseUrl> <login>
//
// Opens <appBaseUrl>/admin/profile, lets the app redirect to the provider,
// fills the dev login form and the consent form, waits to be back on
// /admin/profile and prints that page's body as the last stdout line.
// Exit 0 on success; on failure exit 1 with the reason, URL, a page excerpt
// and a screenshot path on stderr (see chromium.mjs). Progress notes also go
// to stderr.

import { log, logInAtProvider, runInChromium } from './chromium.mjs';

runInChromium({
  timeoutMs: 60_000,
  async main({ page, appBase, login }) {
    const target = new URL(`${appBase}/admin/profile`);
    const isTarget = (url) => {
      const u = new URL(url);
      return u.origin === target.origin && u.pathname === target.pathname;
    };

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
    await logInAtProvider(page, login, isTarget, 'the app');

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
    return line;
  },
});
