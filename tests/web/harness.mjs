// What the headless-Chromium scripts (e2e.mjs, assets.mjs) share: their environment, the check
// counter, launching Debian's chromium through playwright-core, opening a page while recording
// its console and page errors (CSP violations show up there), and screenshots. Environment:
//   BASE_URL        http://127.0.0.1:PORT (`kbrel serve` of the fixture registry)
//   CHROMIUM        /usr/bin/chromium
//   PLAYWRIGHT_DIR  folder whose node_modules holds playwright-core
//   ARTIFACTS       folder for screenshots (target/test-artifacts/web)
//   USER_DATA_DIR   a fresh, empty browser profile folder
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';

export const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
export const base = env('BASE_URL');
export const artifacts = env('ARTIFACTS');
export const profile = env('USER_DATA_DIR');
const require = createRequire(path.join(env('PLAYWRIGHT_DIR'), 'package.json'));
const { chromium } = require('playwright-core');

const args = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let checks = 0;
/** assert.ok, counted. */
export function check(cond, message) {
  assert.ok(cond, message);
  checks += 1;
}
/** Count an assertion made another way (assert.deepEqual…). */
export function counted() {
  checks += 1;
}
/** How many checks passed. */
export const checked = () => checks;

/** A persistent context on the profile folder `name` below USER_DATA_DIR. */
export async function launch(name, options = {}) {
  return chromium.launchPersistentContext(path.join(profile, name), {
    executablePath: env('CHROMIUM'),
    headless: true,
    args,
    viewport: { width: 1280, height: 900 },
    ...options,
  });
}

/** Open `url`, recording console errors and page errors: {page, resp, problems}. */
export async function open(ctx, url) {
  const page = await ctx.newPage();
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(String(e)));
  const resp = await page.goto(base + url, { waitUntil: 'load' });
  return { page, resp, problems };
}

/** A full-page screenshot into ARTIFACTS. */
export async function shot(page, name) {
  await page.screenshot({ path: path.join(artifacts, name), fullPage: true });
}
