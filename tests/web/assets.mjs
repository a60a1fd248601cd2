// The release viewer shows a release's assets, in headless Chromium (Debian's chromium driven
// by playwright-core). Run by tests/it/web.rs (`assets_show_in_headless_chromium`) against
// `kbrel serve` with a registry of two releases where `images/arch.png` (40×30) changed.
// Environment and set-up: ./harness.mjs (shared with e2e.mjs).
import path from 'node:path';

import { artifacts, check, checked, launch, open as openPage, shot } from './harness.mjs';

/** naturalWidth × naturalHeight of the image `selector` once loaded (scrolled into view). */
async function loaded(page, selector) {
  const img = page.locator(selector);
  await img.scrollIntoViewIfNeeded();
  await page.waitForFunction((sel) => document.querySelector(sel)?.complete, selector);
  return img.evaluate((e) => [e.naturalWidth, e.naturalHeight, e.currentSrc]);
}

const ctx = await launch('assets');
try {
  // Each page's console and page errors, kept as they keep coming after the load.
  const pages = [];
  const open = async (url) => {
    const { page, resp, problems } = await openPage(ctx, url);
    pages.push([url, problems]);
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
    await shot(page, 'doc-image.png');
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
  const problems = pages.flatMap(([url, p]) => p.map((m) => `${url}: ${m}`));
  check(problems.length === 0, `console errors (CSP?): ${problems.join('\n')}`);
} finally {
  await ctx.close();
}
console.log(`assets: all checks passed (${checked()} checks)`);
