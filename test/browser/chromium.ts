// The browser the browser tests drive: Debian's chromium through playwright-core.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

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

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
