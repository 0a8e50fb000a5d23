// Phone width, keyboard use, and the API documentation page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, statusCount, viewRequestAfter, BASE } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('at 375 px the map fills the screen and the filters open in a panel', async () => {
  const { context, page, errors } = await openPage(browser, { viewport: { width: 375, height: 812 } });
  const map = await page.locator('#map').boundingBox();
  assert.ok(map.width >= 370, `map width ${map.width}`);
  assert.ok(map.height >= 650, `map height ${map.height}`);
  assert.ok(await statusCount(page) > 0);
  assert.equal(await page.locator('#from').isVisible(), false, 'filters start folded away');
  assert.equal(await page.locator('.leaflet-control-layers-expanded').count(), 0, 'the layer control starts folded');
  const noScroll = await page.evaluate(() => document.documentElement.scrollWidth <= innerWidth);
  assert.ok(noScroll, 'no horizontal scrolling');

  const toggle = page.getByRole('button', { name: 'Filters', exact: true });
  assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
  await toggle.click();
  assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
  for (const id of ['#from', '#to', '#event-type', '#department', '#radius']) {
    assert.equal(await page.locator(id).isVisible(), true, `${id} visible`);
    const box = await page.locator(id).boundingBox();
    assert.ok(box.x >= 0 && box.x + box.width <= 375, `${id} fits the width`);
  }
  assert.equal(await page.evaluate(() => document.activeElement.id), 'from', 'focus moves into the panel');
  await viewRequestAfter(page, () => page.selectOption('#event-type', 'massacre'),
    (u) => u.searchParams.get('event_type') === 'massacre');
  await page.keyboard.press('Escape');
  assert.equal(await page.locator('#from').isVisible(), false, 'Escape closes the panel');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'panel-toggle', 'focus returns to the button');
  assert.equal(await page.locator('#map').isVisible(), true);

  // The close button works too.
  await toggle.click();
  await page.getByRole('button', { name: 'Close filters' }).click();
  assert.equal(await page.locator('#from').isVisible(), false);
  assert.deepEqual(errors, []);
  await context.close();
});

test('the controls are reachable with Tab and show a focus ring', async () => {
  const { context, page, errors } = await openPage(browser);
  await page.locator('body').click({ position: { x: 5, y: 5 } });
  const reached = new Map();
  for (let i = 0; i < 60; i++) {
    await page.keyboard.press('Tab');
    const info = await page.evaluate(() => {
      const e = document.activeElement;
      const s = getComputedStyle(e);
      return { key: e.id || e.className || e.tagName, text: (e.textContent || '').trim().slice(0, 40), outline: s.outlineStyle, shadow: s.boxShadow };
    });
    if (!reached.has(info.key)) reached.set(info.key, info);
  }
  for (const id of ['place-search', 'from', 'to', 'event-type', 'min-fatalities', 'department', 'radius', 'chart-play', 'choropleth-unit', 'download-view', 'map']) {
    assert.ok([...reached.keys()].some((k) => k === id || String(k).split(' ').includes(id)), `Tab reaches #${id}: ${[...reached.keys()].join(' | ')}`);
  }
  const from = reached.get('from');
  assert.ok(from.outline !== 'none' || from.shadow !== 'none', 'a visible focus style');
  assert.deepEqual(errors, []);
  await context.close();
});

test('the API page lists every path of /api with its parameters', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(e.message));
  await context.route('**/*', (r) => (new URL(r.request().url()).hostname === '127.0.0.1' ? r.continue() : r.abort()));
  await page.goto(`${BASE}/static/api.html`);
  await page.waitForFunction(() => /paths/.test(document.getElementById('api-status').textContent));
  const doc = await (await fetch(`${BASE}/api`)).json();
  const headings = await page.locator('#api-paths h2').allTextContents();
  for (const path of Object.keys(doc.paths)) {
    assert.ok(headings.some((h) => h.endsWith(path)), `lists ${path}`);
  }
  const params = await page.locator('#api-paths td code').allTextContents();
  for (const p of ['bbox', 'datetime', 'limit', 'near', 'within', 'event_type', 'department']) {
    assert.ok(params.includes(p), `documents ${p}`);
  }
  // The landing page points at it.
  const landing = await (await fetch(`${BASE}/`, { headers: { Accept: 'application/json' } })).json();
  const doc2 = landing.links.find((l) => l.rel === 'service-doc');
  assert.equal(new URL(doc2.href).pathname, '/static/api.html');
  assert.deepEqual(errors, []);
  await context.close();
});

test('the sidebar fits its width with no horizontal scrollbar at 1400 px and at 375 px', async () => {
  // With scrollbars drawn, as on a desktop: the panel's own scrollbar narrows it.
  const withBars = await launch({ scrollbars: true });
  try {
    for (const width of [1400, 375]) {
      const { context, page, errors } = await openPage(withBars, { viewport: { width, height: 900 } });
      if (width < 700) await page.getByRole('button', { name: 'Filters', exact: true }).click();
      await page.fill('#from', '2024-01-01');
      await page.fill('#to', '2024-12-31');
      const sizes = await page.evaluate(() => {
        const panel = document.getElementById('filters-panel');
        const over = [];
        const pr = panel.getBoundingClientRect();
        for (const e of panel.querySelectorAll('input, select, button, svg, table')) {
          const b = e.getBoundingClientRect();
          if (b.width && (b.left < pr.left - 0.5 || b.right > pr.right + 0.5)) over.push(e.id || e.tagName);
        }
        return {
          doc: [document.documentElement.scrollWidth, document.documentElement.clientWidth],
          panel: [panel.scrollWidth, panel.clientWidth],
          over,
        };
      });
      assert.ok(sizes.doc[0] <= sizes.doc[1], `${width} px: the page scrolls sideways (${sizes.doc})`);
      assert.ok(sizes.panel[0] <= sizes.panel[1], `${width} px: the sidebar scrolls sideways (${sizes.panel})`);
      assert.deepEqual(sizes.over, [], `${width} px: controls outside the sidebar`);
      for (const id of ['#from', '#to', '#place-search']) {
        const box = await page.locator(id).boundingBox();
        assert.ok(box.x >= 0 && box.x + box.width <= width, `${width} px: ${id} fits`);
      }
      assert.deepEqual(errors, []);
      await context.close();
    }
  } finally {
    await withBars.close();
  }
});
