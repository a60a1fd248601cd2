// The release viewer shows a release's assets, in headless Chromium (Debian's chromium driven
// by playwright-core). Run by tests/it/web.rs (`assets_show_in_headless_chromium`) against
// `kbrel serve` with a registry of two releases where `images/arch.png` (40×30) changed.
// Environment as tests/web/e2e.mjs: BASE_URL, CHROMIUM, PLAYWRIGHT_DIR, ARTIFACTS,
// USER_DATA_DIR.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const base = env('BASE_URL');
const artifacts = env('ARTIFACTS');
const require = createRequire(path.join(env('PLAYWRIGHT_DIR'), 'package.json'));
const { chromium } = require('playwright-core');

let checks = 0;
function check(cond, message) {
  assert.ok(cond, message);
  checks += 1;
}

/** naturalWidth × naturalHeight of the image `selector` once loaded (scrolled into view). */
async function loaded(page, selector) {
  const img = page.locator(selector);
  await img.scrollIntoViewIfNeeded();
  await page.waitForFunction((sel) => document.querySelector(sel)?.complete, selector);
  return img.evaluate((e) => [e.naturalWidth, e.naturalHeight, e.currentSrc]);
}

const ctx = await chromium.launchPersistentContext(path.join(env('USER_DATA_DIR'), 'assets'), {
  executablePath: env('CHROMIUM'),
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  viewport: { width: 1280, height: 900 },
});
try {
  const problems = [];
  const open = async (url) => {
    const page = await ctx.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`${url}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`${url}: ${e}`));
    const resp = await page.goto(base + url, { waitUntil: 'load' });
    check(resp.status() === 200, `${url} answered ${resp.status()}`);
    return page;
  };

  // A document page: the image its markdown links relatively (`../images/arch.png`) loads from
  // the release, at the new version's pixels.
  {
    const page = await open('/v/1.1.0/en/intro.md');
    const [w, h, src] = await loaded(page, 'article.markdown img[alt="architecture"]');
    check(w === 40 && h === 30, `intro.md: the image is ${w}×${h}, not 40×30`);
    check(src.endsWith('/v/1.1.0/images/arch.png'), `intro.md: the image comes from ${src}`);
    const [sw] = await loaded(page, 'article.markdown img[alt="architecture"]');
    check(sw > 0, 'naturalWidth > 0');
    await page.screenshot({ path: path.join(artifacts, 'doc-image.png'), fullPage: true });
    await page.close();
  }
  {
    const page = await open('/v/1.0.0/zh/guide/setup.md');
    const [w, h] = await loaded(page, 'article.markdown img[alt="setup"]');
    check(w === 16 && h === 16, `zh/guide/setup.md: the image is ${w}×${h}, not 16×16`);
    await page.close();
  }

  // The diff page: the changed image, old and new side by side, both loaded.
  {
    const page = await open('/diff/1.0.0...1.1.0');
    const change = '.asset-change[data-asset="images/arch.png"]';
    check((await page.locator(change).count()) === 1, 'the changed image has a row');
    const [ow, , osrc] = await loaded(page, `${change} .asset-side.old img`);
    const [nw, , nsrc] = await loaded(page, `${change} .asset-side.new img`);
    check(ow === 40 && nw === 40, `old ${ow} and new ${nw} pixels wide, not 40`);
    check(osrc.endsWith('/v/1.0.0/images/arch.png') && nsrc.endsWith('/v/1.1.0/images/arch.png'), `sides ${osrc} ${nsrc}`);
    const boxes = await page.locator(`${change} .asset-side img`).evaluateAll((es) => es.map((e) => e.getBoundingClientRect().left));
    check(boxes.length === 2 && boxes[0] < boxes[1], `side by side: ${boxes}`);
    const unchanged = await page.locator('.asset-change[data-asset="en/guide/img/setup.png"]').count();
    check(unchanged === 0, 'an unchanged image has no row');
    await page.locator(change).screenshot({ path: path.join(artifacts, 'diff-assets.png') });
    await page.close();
  }
  check(problems.length === 0, `console errors (CSP?): ${problems.join('\n')}`);
} finally {
  await ctx.close();
}
console.log(`assets: all checks passed (${checks} checks)`);
