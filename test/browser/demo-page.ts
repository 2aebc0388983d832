// Driving the demo page in Chromium: shared by the browser tests and the
// browser bench. Times are measured in the page (what a person waits for);
// the driver's own round trips to a window are not the page's.
import assert from 'node:assert/strict';
import type { BrowserContext, Page } from 'playwright-core';

/** A property of the demo's `window.pushwireDemo`, read in the page. */
export const demo = <T>(page: Page, expression: string): Promise<T> => page.evaluate(`window.pushwireDemo.${expression}`) as Promise<T>;

export async function waitForText(page: Page, selector: string, expected: string | RegExp, timeout = 5000): Promise<void> {
  await page.waitForFunction(
    ([s, t, isRe]) => {
      const text = (globalThis as any).document.querySelector(s)?.textContent ?? '';
      return isRe ? new RegExp(t).test(text) : text === t;
    },
    [selector, typeof expected === 'string' ? expected : expected.source, typeof expected !== 'string'] as const,
    { timeout, polling: 20 },
  ).catch(async () => assert.fail(`${selector}: expected ${expected}, have ${JSON.stringify(await page.textContent(selector))}`));
}

/**
 * Opens the demo (`capacity` places) in a new window of the context. `loadMs`:
 * from the navigation's start to the moment the page shows the capacity and
 * its live connection open, as the page's own clock (performance.now) saw it.
 */
export async function openWindow(context: BrowserContext, base: string, capacity = 100, timeout = 10_000): Promise<{ page: Page; loadMs: number }> {
  const page = await context.newPage();
  await page.addInitScript((want: string) => {
    const w = globalThis as any;
    const seen = () => w.document.querySelector('#capacity')?.textContent === want &&
      /\(open\)$/.test(w.document.querySelector('#main-transport')?.textContent ?? '');
    const observer = new w.MutationObserver(() => {
      if (!seen()) return;
      w.__loadedAt = w.performance.now();
      observer.disconnect();
    });
    observer.observe(w.document, { childList: true, characterData: true, subtree: true });
  }, String(capacity));
  await page.goto(base + '/?poll=500');
  await waitForText(page, '#capacity', String(capacity), timeout);
  await waitForText(page, '#main-transport', /\(open\)$/, timeout);
  const loadMs = await page.waitForFunction(() => (globalThis as any).__loadedAt, null, { timeout, polling: 20 });
  return { page, loadMs: Math.round(Number(await loadMs.jsonValue())) };
}

/** Signs up through the page's form; resolves with the ms, in the page, from the submit to the answer shown. */
export async function signUp(page: Page, name: string): Promise<number> {
  const ms = await page.evaluate(async (n) => {
    const doc = (globalThis as any).document;
    const status = doc.querySelector('#signup-status');
    doc.querySelector('#name').value = n;
    const started = performance.now();
    const shown = new Promise<void>((resolve) => {
      const observer = new (globalThis as any).MutationObserver(() => {
        if (status.textContent.startsWith(`You're in, ${n}: place `)) {
          observer.disconnect();
          resolve();
        }
      });
      observer.observe(status, { childList: true, characterData: true, subtree: true });
    });
    doc.querySelector('#signup-form').requestSubmit();
    await shown;
    return performance.now() - started;
  }, name);
  return Math.round(ms);
}
