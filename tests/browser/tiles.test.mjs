// Incidents drawn from vector tiles: no cap, and the counts drawn add up to the status
// count, which is numberMatched, at every zoom that shows the whole layer. The map draws
// from tiles beyond 5,000 incidents in view; draw=tiles in the URL makes it draw from them
// at any count.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, api, statusCount, isViewItems, viewRequestAfter, clickablePoint, LARGE } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** The sum of the counts of the tile features drawn, once every tile in view has loaded. */
async function drawnCount(page) {
  await page.waitForFunction(() => {
    const tiles = document.querySelectorAll('.kat-incident-tiles .kat-tile');
    return tiles.length > 0 && [...tiles].every((t) => t.hasAttribute('data-count') || t.hasAttribute('data-error'));
  }, null, { timeout: 20_000 });
  return page.evaluate(() => {
    const errs = [...document.querySelectorAll('.kat-tile[data-error]')].map((t) => t.getAttribute('data-error'));
    if (errs.length) throw new Error(`tiles failed: ${errs.join(', ')}`);
    return [...document.querySelectorAll('.kat-tile-point')].reduce((s, e) => s + Number(e.getAttribute('data-count')), 0);
  });
}

test('with tiles, every matching incident is drawn at any zoom and the status count is numberMatched', async () => {
  const { context, page, errors } = await openPage(browser, { hash: '#z=7&lat=19.0&lon=-72.8&draw=tiles' });
  const all = (await api('/collections/incidents/items?limit=1')).numberMatched;
  const withGeometry = (await api('/collections/incidents/items?bbox=-75,17.5,-71,20.5&limit=1')).numberMatched;
  // The whole country in view: every incident with a place is in some tile.
  assert.equal(await statusCount(page), withGeometry);
  assert.equal(await drawnCount(page), withGeometry);
  assert.equal(await page.locator('.status.capped').count(), 0, 'no cap notice');
  assert.ok(withGeometry <= all);
  // No markers from /items: the tiles draw them.
  assert.equal(await page.locator('.leaflet-marker-icon.kat-incident:not(.kat-tile-point)').count(), 0);
  // Zoom 9 still over the whole layer, with a filter.
  const url = await viewRequestAfter(page, async () => {
    await page.evaluate(() => { location.hash = '#z=8&lat=19.0&lon=-72.8&type=massacre&draw=tiles'; });
  }, (u) => u.searchParams.get('event_type') === 'massacre');
  const expected = (await api(`/collections/incidents/items?bbox=${url.searchParams.get('bbox')}&event_type=massacre&limit=1`)).numberMatched;
  assert.equal(await statusCount(page), expected);
  const tileReq = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name).filter((n) => n.includes('/tiles/WebMercatorQuad/')).pop());
  assert.equal(new URL(tileReq).searchParams.get('event_type'), 'massacre', 'tiles take the filters');
  assert.ok(expected > 0);
  assert.deepEqual(errors, []);
  await context.close();
});

test('each incident drawn from a tile sits on its own coordinates', async () => {
  // Two rows and two columns of tiles over Haiti at zoom 9: a tile drawn out of its place
  // (a tile stacked below the one before it) moves its incidents by whole tiles.
  const { context, page, errors } = await openPage(browser, { hash: '#z=9&lat=18.9&lon=-72.6&draw=tiles' });
  await drawnCount(page);
  const features = (await api('/collections/incidents/items?limit=10000')).features.filter((f) => f.geometry);
  const { drawn, expected } = await page.evaluate((coords) => {
    const map = window.KatMap.map;
    const box = map.getContainer().getBoundingClientRect();
    const size = map.getSize();
    const drawn = [...document.querySelectorAll('.kat-tile-point.kat-incident')].map((e) => {
      const b = e.getBoundingClientRect();
      return [b.left + b.width / 2 - box.left, b.top + b.height / 2 - box.top];
    }).filter(([x, y]) => x >= 0 && y >= 0 && x < size.x && y < size.y);
    const expected = coords.map(([lon, lat]) => map.latLngToContainerPoint([lat, lon]))
      .filter((p) => p.x >= 0 && p.y >= 0 && p.x < size.x && p.y < size.y)
      .map((p) => [p.x, p.y]);
    return { drawn, expected };
  }, features.map((f) => f.geometry.coordinates));
  assert.ok(expected.length > 10, `${expected.length} incidents in view`);
  const nearest = (p, set) => Math.min(...set.map((q) => Math.hypot(p[0] - q[0], p[1] - q[1])));
  for (const p of drawn) assert.ok(nearest(p, expected) <= 2, `a dot at ${p} is ${nearest(p, expected).toFixed(1)} px from any incident`);
  for (const p of expected) assert.ok(nearest(p, drawn) <= 2, `the incident at ${p} has no dot within 2 px`);
  assert.deepEqual(errors, []);
  await context.close();
});

test('a single incident from a tile opens its popup', async () => {
  const { context, page, errors } = await openPage(browser, { hash: '#z=13&lat=18.545&lon=-72.335&draw=tiles' });
  await drawnCount(page);
  // Several incidents may share a point: click the one on top.
  const pt = await clickablePoint(page, '.kat-tile-point.kat-incident');
  await page.mouse.click(pt.x, pt.y);
  const popup = page.locator('.leaflet-popup-content .kat-popup');
  await popup.waitFor({ state: 'visible' });
  assert.match(await popup.textContent(), /Source:/);
  assert.deepEqual(errors, []);
  await context.close();
});

test('at 100,000 incidents the aggregated cells add up to numberMatched, with a CQL2 filter too', { skip: !LARGE && 'KAT_LARGE_URL is not set' }, async () => {
  const { context, page, errors } = await openPage(browser, { base: LARGE, hash: '#z=8&lat=18.9&lon=-72.6' });
  const tileUrls = () => page.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name).filter((n) => n.includes('/tiles/WebMercatorQuad/')));
  // Beyond the marker cap the map draws from tiles by itself.
  const first = await viewRequestAfter(page, async () => {
    await page.evaluate(() => { location.hash = '#z=7&lat=19.0&lon=-72.8'; });
  });
  const matched = (await api(`/collections/incidents/items?bbox=${first.searchParams.get('bbox')}&limit=1`, LARGE)).numberMatched;
  assert.ok(matched > 50_000, `${matched} incidents in view`);
  assert.equal(await statusCount(page), matched);
  assert.equal(await drawnCount(page), matched);
  assert.ok(await page.locator('.kat-tile-cluster').count() > 0, 'aggregated cells drawn');
  assert.ok((await tileUrls()).length > 0, 'drawn from tiles');

  // Two event types and a minimum toll: one CQL2 filter, on the tiles too.
  const url = await viewRequestAfter(page, async () => {
    await page.evaluate(() => { location.hash = '#z=7&lat=19.0&lon=-72.8&type=massacre,kidnapping&fmin=3'; });
  }, (u) => u.searchParams.has('filter'));
  const filter = url.searchParams.get('filter');
  const expected = (await api(`/collections/incidents/items?bbox=${url.searchParams.get('bbox')}&filter=${encodeURIComponent(filter)}&limit=1`, LARGE)).numberMatched;
  assert.ok(expected > 0 && expected < matched, `${expected} of ${matched}`);
  assert.equal(await statusCount(page), expected);
  assert.equal(await drawnCount(page), expected);
  const filtered = (await tileUrls()).filter((n) => new URL(n).searchParams.get('filter') === filter);
  assert.ok(filtered.length > 0, 'the tiles carry the filter');
  assert.deepEqual(errors, []);
  await context.close();
});

test('an aggregated cell zooms in when clicked', { skip: !LARGE && 'KAT_LARGE_URL is not set' }, async () => {
  const { context, page, errors } = await openPage(browser, { base: LARGE, hash: '#z=7&lat=19.0&lon=-72.8&draw=tiles' });
  await drawnCount(page);
  const z0 = Number(new URLSearchParams((await page.evaluate(() => location.hash)).slice(1)).get('z'));
  const c = await page.evaluate(() => {
    for (const e of document.querySelectorAll('.kat-tile-cluster')) {
      const b = e.getBoundingClientRect();
      const x = b.left + b.width / 2, y = b.top + b.height / 2;
      if (x > 0 && y > 0 && x < innerWidth && y < innerHeight && e.contains(document.elementFromPoint(x, y))) return { x, y };
    }
    return null;
  });
  assert.ok(c, 'an aggregated cell to click');
  await page.mouse.click(c.x, c.y);
  await page.waitForFunction((z) => Number(new URLSearchParams(location.hash.slice(1)).get('z')) > z, z0);
  assert.deepEqual(errors, []);
  await context.close();
});

test('at 100,000 incidents the whole-country view transfers under 5 MB, every incident counted', { skip: !LARGE && 'KAT_LARGE_URL is not set' }, async () => {
  let bytes = 0;
  const setup = async (page) => {
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.enable');
    cdp.on('Network.loadingFinished', (e) => { bytes += e.encodedDataLength; });
  };
  const { context, page, errors } = await openPage(browser, { base: LARGE, setup, viewport: { width: 1400, height: 900 } });
  const total = (await api('/collections/incidents/items?limit=1', LARGE)).numberMatched;
  assert.ok(total >= 100_000, `${total} incidents`);
  // The country view holds (nearly) every incident; all of them are drawn.
  const shown = await statusCount(page);
  assert.ok(shown > 0.9 * total, `${shown} of ${total} in the first view`);
  assert.equal(await drawnCount(page), shown);
  await page.waitForTimeout(1000);
  assert.ok(bytes > 0, 'transfers were seen');
  assert.ok(bytes < 5 * 1024 * 1024, `the first view transferred ${(bytes / 1048576).toFixed(2)} MB`);
  assert.deepEqual(errors, []);
  await context.close();
});
