// End-to-end checks of the kbrel release viewer in headless Chromium (Debian's chromium driven
// by playwright-core). Run by tests/it/web.rs against `kbrel serve` on a free port, with the
// fixture registry that test publishes. Environment and set-up: ./harness.mjs.
import assert from 'node:assert/strict';

import { base, check, checked, counted, launch, open, shot } from './harness.mjs';

function log(message) {
  console.log(`e2e: ${message}`);
}

function visibleCount(page, selector) {
  return page.evaluate(
    (sel) => [...document.querySelectorAll(sel)].filter((e) => e.getClientRects().length > 0).length,
    selector,
  );
}

const ctx = await launch('js');
try {
  // --- / : versions, newest first, counts, drift
  {
    const { page, resp, problems } = await open(ctx, '/');
    check(resp.status() === 200, 'home page status');
    check((await page.locator('h1').innerText()) === 'acme-kb', 'package name heading');
    const rows = await page.locator('table.versions tbody tr').evaluateAll((trs) => trs.map((t) => t.id));
    assert.deepEqual(rows, ['v-1.1.0', 'v-1.0.0'], 'every version, newest first');
    counted();
    const newest = await page.locator('#v-1\\.1\\.0').innerText();
    for (const needle of ['1.1.0', 'latest', '2026-11-25', 'en: 5 documents', 'zh: 5 documents',
      'en: 2 added, 2 changed, 1 removed, 1 renamed', 'zh: 4 current, 1 outdated, 0 missing, 0 orphaned']) {
      check(newest.includes(needle), `1.1.0 row shows ${JSON.stringify(needle)}:\n${newest}`);
    }
    const oldest = await page.locator('#v-1\\.0\\.0').innerText();
    check(oldest.includes('2026-11-01') && oldest.includes('First release'), `1.0.0 row: ${oldest}`);
    check((await page.locator('.tags-list').innerText()).includes('latest → 1.1.0'), 'dist-tags');
    // Skip link is the first focusable element.
    await page.keyboard.press('Tab');
    check((await page.evaluate(() => document.activeElement.className)) === 'skip', 'skip link first');
    await shot(page, 'index.png');
    assert.deepEqual(problems, [], 'no console errors on /');
    await page.close();
    log('versions page ok');
  }

  // --- /diff : side by side, word-level marks, toggle, filter, j/k, deep links
  {
    const { page, resp, problems } = await open(ctx, '/diff/1.0.0...1.1.0');
    check(resp.status() === 200, 'diff status');
    check((await page.locator('h1').innerText()) === 'Changes from 1.0.0 to 1.1.0', 'diff heading');
    const enIntro = page.locator('.side[data-lang="en"]', { has: page.locator('[id="en/intro.md"]') });
    const zhIntro = page.locator('.side[data-lang="zh"]', { has: page.locator('[id="zh/intro.md"]') });
    check(await enIntro.isVisible(), 'en intro column visible');
    check(await zhIntro.isVisible(), 'zh intro column visible');
    // The changed word is marked with <ins> in the new line, <del> in the old.
    const enIns = await enIntro.locator('tr.add ins:not(.line)').allInnerTexts();
    check(enIns.includes('Simplified'), `en <ins> marks: ${JSON.stringify(enIns)}`);
    const zhIns = await zhIntro.locator('tr.add ins').allInnerTexts();
    const zhDel = await zhIntro.locator('tr.del del').allInnerTexts();
    check(zhIns.includes('说明') && zhDel.includes('介绍'), `zh marks: ${zhIns} / ${zhDel}`);
    check((await zhIntro.locator('table.hunks').getAttribute('lang')) === 'zh', 'lang="zh" on Chinese text');
    const insLine = await enIntro.locator('tr.add', { hasText: 'Simplified' }).innerText();
    check(insLine.includes('+'), `a +/- text marker besides colour: ${JSON.stringify(insLine)}`);
    check((await enIntro.innerText()).includes('+5'), 'per document +/- counts');
    check((await enIntro.innerText()).includes('Title: Introduction → Introduction to Acme'), 'title change');
    await shot(page, 'diff.png');

    // Language toggle: only en.
    check(await page.locator('#lang-toggle').isVisible(), 'toggle shown with JavaScript');
    await page.getByLabel('en only').check();
    check((await visibleCount(page, '.side[data-lang="zh"]')) === 0, 'zh columns hidden');
    check((await visibleCount(page, '.side[data-lang="en"]')) > 0, 'en columns still shown');
    check(await zhIntro.isHidden(), 'zh intro hidden');
    await shot(page, 'diff-en-only.png');
    await page.getByLabel('All languages').check();
    check(await zhIntro.isVisible(), 'zh back');

    // File filter (client side, as you type).
    const total = await visibleCount(page, 'section.doc');
    await page.locator('#filter').fill('faq');
    check((await visibleCount(page, 'section.doc')) === 1, 'filter leaves one document');
    check(await page.locator('section.doc', { hasText: 'en/faq.md' }).isVisible(), 'the faq document');
    const count = await page.locator('#filter-count').innerText();
    check(count === `1 of ${total} documents on this page shown`, `filter count: ${count}`);
    await shot(page, 'diff-filtered.png');
    // Enter submits the form: the server filters across all pages.
    await page.locator('#filter').press('Enter');
    await page.waitForURL(/q=faq/);
    check((await page.locator('section.doc').count()) === 1, 'server-side filter');
    check((await page.locator('#filter').inputValue()) === 'faq', 'filter kept in the form');
    await page.goto(base + '/diff/1.0.0...1.1.0');

    // j / k move between documents.
    await page.locator('h1').click();
    await page.keyboard.press('j');
    const first = await page.evaluate(() => document.activeElement.getAttribute('aria-labelledby'));
    await page.keyboard.press('j');
    const second = await page.evaluate(() => document.activeElement.getAttribute('aria-labelledby'));
    await page.keyboard.press('k');
    const back = await page.evaluate(() => document.activeElement.getAttribute('aria-labelledby'));
    check(first === 'g1' && second === 'g2' && back === 'g1', `j/k: ${first} ${second} ${back}`);

    // Deep link to one document in one language.
    await page.goto(base + '/diff/1.0.0...1.1.0#zh/intro.md');
    check((await page.evaluate(() => document.querySelector(':target')?.id)) === 'zh/intro.md', 'deep link target');
    assert.deepEqual(problems, [], 'no console errors on the diff page');
    await page.close();
    log('diff page ok');
  }

  // --- swapped versions
  {
    const { page } = await open(ctx, '/diff/1.1.0...1.0.0');
    const notice = await page.locator('.notice').first().innerText();
    check(notice.includes('swapped') && notice.includes('from 1.0.0 to 1.1.0'), `swap notice: ${notice}`);
    await page.close();
  }

  // --- the patch download
  {
    const r = await ctx.request.get(base + '/diff/1.0.0...1.1.0.patch');
    check(r.status() === 200 && r.headers()['content-type'] === 'text/x-diff; charset=utf-8', 'patch type');
    check((await r.text()).includes('+In `/var/log/acme/agent.log`, rotated every day and kept for a week.'), 'patch body');
  }

  // --- a hostile document renders inert
  for (const lang of ['en', 'zh']) {
    const { page, resp, problems } = await open(ctx, `/v/1.1.0/${lang}/hostile.md`);
    check(resp.status() === 200, 'document status');
    await page.waitForTimeout(200);
    await page.locator('article').hover();
    check((await page.evaluate(() => typeof window.pwned)) === 'undefined', 'window.pwned stays undefined');
    const text = await page.locator('article').innerText();
    check(text.includes('<script>window.pwned=1</script>'), `script shown as text:\n${text}`);
    check(text.includes('<img src=x onerror="window.pwned=1">'), 'img shown as text');
    check((await page.locator('article img, article script, article b').count()) === 0, 'no live elements');
    check((await page.locator('a[href^="javascript" i]').count()) === 0, 'no javascript: links');
    check((await page.locator('article').getAttribute('lang')) === lang, 'lang attribute');
    if (lang === 'en') {
      check((await page.title()).includes('Hostile <script>window.pwned=1</script> title'), 'title as text');
      await shot(page, 'doc-hostile.png');
    }
    for (const a of await page.locator('article a').all()) {
      await a.click({ modifiers: ['Alt'], trial: true });
    }
    check((await page.evaluate(() => typeof window.pwned)) === 'undefined', 'still undefined');
    assert.deepEqual(problems, [], 'no console errors (no blocked inline script or style)');
    await page.close();
  }
  log('documents ok');

  // --- /status
  {
    const { page, problems } = await open(ctx, '/status');
    const outdated = page.locator('[id="zh/faq.md"]');
    check(await outdated.isVisible(), 'outdated zh/faq.md listed');
    const ins = await outdated.locator('tr.add ins').allInnerTexts();
    check(ins.includes('every day and kept for a week'), `unabsorbed source change: ${ins}`);
    check((await page.locator('table.drift').innerText()).includes('zh\t4\t1\t0\t0'), 'drift counts');
    await shot(page, 'status.png');
    assert.deepEqual(problems, [], 'no console errors on /status');
    await page.close();
    log('status page ok');
  }

  // --- 404
  {
    const { page, resp } = await open(ctx, '/v/9.9.9/en/intro.md');
    check(resp.status() === 404, '404 status');
    check((await page.locator('h1').innerText()) === 'Not found', '404 heading');
    check((await page.locator('main a[href="/"]').count()) === 1, 'link back home');
    await shot(page, 'not-found.png');
    await page.close();
  }
} finally {
  await ctx.close();
}

// --- without JavaScript: both languages shown, no toggle, pages still read
const nojs = await launch('nojs', { javaScriptEnabled: false });
try {
  const { page } = await open(nojs, '/diff/1.0.0...1.1.0');
  check(await page.locator('#lang-toggle').isHidden(), 'no toggle without JavaScript');
  check((await visibleCount(page, '.side[data-lang="zh"]')) > 0, 'zh shown without JavaScript');
  check((await visibleCount(page, '.side[data-lang="en"]')) > 0, 'en shown without JavaScript');
  check(await page.locator('#filter').isVisible(), 'filter form without JavaScript');
  await shot(page, 'diff-nojs.png');
} finally {
  await nojs.close();
}

log(`all checks passed (${checked()} checks)`);
