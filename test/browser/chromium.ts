// The browser the browser tests drive: Debian's chromium through playwright-core.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  return (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, name)).find(executable);
}

/** $CHROMIUM_PATH, else `chromium` on PATH, else /usr/bin/chromium. */
export const CHROMIUM = process.env.CHROMIUM_PATH || onPath('chromium') || '/usr/bin/chromium';

/** Without a browser the tests are skipped, except under CI, where the launch fails them. */
export const skip: string | false = !executable(CHROMIUM) && !process.env.CI
  ? `no chromium on PATH nor at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH); with CI set this is a failure, not a skip`
  : false;

/** `extraArgs`: more command-line switches (e.g. `--host-resolver-rules` for a name of the test's own). */
export function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
      // Pages the tests serve themselves (page.route) count as public to Chromium, which would then refuse their WebSockets to 127.0.0.1.
      '--disable-features=LocalNetworkAccessChecks',
      // Every window of the tests is visible at once: no throttling of the ones behind.
      '--disable-background-timer-throttling', '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows', ...extraArgs],
  });
}

/**
 * A blank page of the server's origin that loads /push.js, served by the
 * test (the server has no such page): what a site built on pushwire looks like.
 */
export async function routeBlankPage(context: BrowserContext, base: string, extraHead = ''): Promise<string> {
  const url = `${base}/__client-test.html`;
  await context.route(url, (route) => route.fulfill({
    status: 200,
    contentType: 'text/html; charset=utf-8',
    body: `<!doctype html><html><head><meta charset="utf-8"><title>client test</title>${extraHead}<script src="/push.js"></script></head><body></body></html>`,
  }));
  return url;
}

/** Every console error, page error and failed request of a page. */
export function watchForTrouble(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    // A request the client itself aborts (a re-opened stream, a stopped poll) is not trouble.
    if (!/ERR_ABORTED/.test(r.failure()?.errorText ?? '')) problems.push(`failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  return problems;
}

/** Polls `check` in Node until it holds, or fails after `ms`. */
export async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
