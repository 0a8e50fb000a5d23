// The map page loads cleanly, draws boundaries, areas and incidents with every non-local
// request blocked, and says when the base map is unavailable.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  launch, openPage, api, allFeatures, statusCount, isViewItems, viewRequestAfter, itemsPath, clickablePoint, BASE,
} from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('with tiles answered, the page loads with no console error at all and no offline notice', async () => {
  const { context, page, errors } = await openPage(browser, { tiles: 'stub' });
  await page.waitForSelector('path.kat-dept');
  await page.waitForSelector('.leaflet-tile-loaded');
  await page.waitForTimeout(7000); // past the base-map timeout
  assert.equal(await page.locator('#tile-notice').isHidden(), true, 'the offline notice stays hidden');
  assert.equal(await page.locator('#map').isVisible(), true);
  // The CSP is the server's; the page must run under it.
  const res = await page.request.get(`${BASE}/`, { headers: { Accept: 'text/html' } });
  assert.match(res.headers()['content-security-policy'] || '', /script-src 'self'/);
  assert.deepEqual(errors, []);
  await context.close();
});

test('offline: boundaries, areas and incidents draw, the notice shows, the count matches the API', async () => {
  const { context, page, errors, aborted } = await openPage(browser);
  // The 10 departments from /simplified/departments.geojson.
  await page.waitForFunction(() => document.querySelectorAll('path.kat-dept').length === 10, null, { timeout: 15_000 });
  await page.waitForSelector('path.kat-area');
  await page.waitForSelector('.leaflet-marker-icon');
  await page.locator('#tile-notice').waitFor({ state: 'visible', timeout: 10_000 });
  assert.match(await page.locator('#tile-notice').textContent(), /base map unavailable/i);
  assert.ok([...aborted].some((u) => u.startsWith('https://tile.openstreetmap.org/')), 'tiles were asked for and blocked');

  // Areas: one path per armed-group area with a geometry.
  const areas = await allFeatures('/collections/gang_areas/items?limit=1000');
  const drawable = areas.features.filter((f) => f.geometry).length;
  assert.equal(await page.locator('path.kat-area').count(), drawable);

  // The status count is numberMatched for the page's own query; the markers add up to it.
  const url = new URL(await page.evaluate(() => performance.getEntriesByType('resource')
    .map((e) => e.name).filter((n) => n.includes('/collections/incidents/items?') && n.includes('bbox=')).pop()));
  assert.ok(isViewItems(url.href));
  const count = await statusCount(page);
  const own = await allFeatures(itemsPath(url.searchParams.get('bbox')));
  assert.equal(count, own.numberMatched);
  assert.equal(count, own.features.length, 'numberMatched equals the features returned');
  await page.waitForTimeout(500); // chunked marker loading
  const shown = await page.evaluate(() => {
    let n = document.querySelectorAll('.leaflet-marker-icon.kat-incident').length;
    for (const c of document.querySelectorAll('.marker-cluster span')) n += Number(c.textContent.trim());
    return n;
  });
  assert.equal(shown, own.features.filter((f) => f.geometry).length, 'markers and clusters add up to the count');
  assert.ok(count > 0);

  // The legend, the layer control and the attributions.
  assert.equal(await page.locator('#legend-types li').count(), 12);
  const layerNames = await page.locator('.leaflet-control-layers-overlays label').allTextContents();
  assert.deepEqual(layerNames.map((s) => s.trim()), ['Incidents', 'Armed-group areas', 'Department boundaries']);
  const text = await page.locator('body').textContent();
  for (const s of [
    'Administrative boundaries: CNIGS / OCHA (COD-AB Haiti), CC BY 3.0 IGO',
    'Place names: GeoNames (geonames.org), CC BY 4.0',
    'Incidents and armed-group areas: compiled from the news pages cited in each record',
    'Ouest and Artibonite dominate',
  ]) assert.ok(text.includes(s), `page says: ${s}`);
  assert.match(await page.locator('.leaflet-control-attribution').textContent(), /OpenStreetMap/);
  assert.deepEqual(errors, []);
  await context.close();
});

test('moving the view reloads for the new bbox; an older answer never overwrites a newer one', async () => {
  const { context, page, errors } = await openPage(browser, { hash: '#z=8&lat=19.05&lon=-73.05' });
  const all = await statusCount(page);
  // Hold back every answer for a massacre query, then ask for kidnappings.
  let held = 0;
  await page.route('**/collections/incidents/items?**', async (route) => {
    const u = new URL(route.request().url());
    if (u.searchParams.get('event_type') === 'massacre') {
      held++;
      await new Promise((r) => setTimeout(r, 1500));
    }
    try { await route.continue(); } catch { /* the page gave up on it */ }
  });
  const slow = page.waitForRequest((r) => isViewItems(r.url()) && new URL(r.url()).searchParams.get('event_type') === 'massacre');
  await page.selectOption('#event-type', 'massacre');
  await slow;
  const url = await viewRequestAfter(page, () => page.selectOption('#event-type', 'kidnapping'),
    (u) => u.searchParams.get('event_type') === 'kidnapping');
  await page.waitForTimeout(2000); // the massacre answer would land now
  assert.ok(held >= 1);
  const expected = await api(itemsPath(url.searchParams.get('bbox'), { event_type: 'kidnapping' }, { limit: 1 }));
  assert.equal(await statusCount(page), expected.numberMatched);
  assert.notEqual(expected.numberMatched, all);
  await page.unroute('**/collections/incidents/items?**');

  // Zoom in on Port-au-Prince: a smaller bbox, its own count.
  await page.selectOption('#event-type', '');
  await page.waitForTimeout(400);
  await waitIdle(page);
  const before = await statusCount(page);
  const zoomed = await viewRequestAfter(page, async () => {
    await page.evaluate(() => { location.hash = '#z=12&lat=18.54&lon=-72.34'; });
  }, (u) => Number(u.searchParams.get('bbox').split(',')[0]) > -72.6);
  const z = await api(itemsPath(zoomed.searchParams.get('bbox'), {}, { limit: 1 }));
  assert.equal(await statusCount(page), z.numberMatched);
  assert.ok(z.numberMatched < before, 'fewer incidents in a smaller view');
  assert.deepEqual(errors, []);
  await context.close();
});

test('pages are followed through rel=next links', async () => {
  const { context, page, errors } = await openPage(browser);
  const seen = [];
  await page.route('**/collections/incidents/items?**', (route) => {
    const u = new URL(route.request().url());
    if (u.searchParams.has('bbox') && !u.searchParams.has('near')) {
      u.searchParams.set('limit', '7');
      seen.push(u.searchParams.get('offset') || '0');
      return route.continue({ url: u.href });
    }
    return route.continue();
  });
  const url = await viewRequestAfter(page, () => page.selectOption('#department', 'Ouest'),
    (u) => u.searchParams.get('department') === 'Ouest');
  const expected = await allFeatures(itemsPath(url.searchParams.get('bbox'), { department: 'Ouest' }, { limit: 1000 }));
  assert.ok(expected.numberMatched > 7, 'enough incidents for several pages');
  assert.equal(seen.length, Math.ceil(expected.numberMatched / 7), `one request per page (offsets ${seen.join(',')})`);
  assert.equal(await statusCount(page), expected.numberMatched);
  await page.waitForTimeout(500);
  const shown = await page.evaluate(() => {
    let n = document.querySelectorAll('.leaflet-marker-icon.kat-incident').length;
    for (const c of document.querySelectorAll('.marker-cluster span')) n += Number(c.textContent.trim());
    return n;
  });
  assert.equal(shown, expected.features.filter((f) => f.geometry).length);
  assert.deepEqual(errors, []);
  await context.close();
});

test('a marker click opens a popup with the incident\'s facts and source link', async () => {
  const { context, page, errors } = await openPage(browser);
  await page.waitForSelector('.leaflet-marker-icon.kat-incident');
  const pt = await clickablePoint(page, '.leaflet-marker-icon.kat-incident');
  await page.mouse.click(pt.x, pt.y);
  const popup = page.locator('.leaflet-popup-content .kat-popup');
  await popup.waitFor({ state: 'visible' });
  const id = (await popup.locator('.kat-id').textContent()).replace(/^Record /, '').trim();
  const f = await api(`/collections/incidents/items/${encodeURIComponent(id)}`);
  const text = await popup.textContent();
  const p = f.properties;
  assert.ok(text.includes(p.event_date), 'date');
  assert.ok(text.includes(p.location_as_reported), 'location as reported');
  for (const a of p.actors) assert.ok(text.includes(a), `actor ${a}`);
  assert.ok(text.includes(p.fatalities === null ? 'not reported' : String(p.fatalities)), 'fatalities');
  const precision = { 1: 'locality', 2: 'communal-section', 3: 'commune', 4: 'department' }[p.geo_precision];
  assert.ok(text.includes(`placed at ${precision} level`), 'precision');
  const link = popup.locator('.kat-source a').first();
  assert.equal(await link.getAttribute('href'), p.source_url);
  assert.equal((await link.textContent()).trim(), p.source_name);
  await page.keyboard.press('Escape');
  assert.deepEqual(errors, []);
  await context.close();
});

test('an armed-group area built from whole units is labelled approximate', async () => {
  const { context, page, errors } = await openPage(browser, { hash: '#z=10&lat=18.75&lon=-72.4' });
  await page.waitForSelector('path.kat-area');
  // Nearby lists open on map clicks too; only the area popup matters here.
  const pt = await clickablePoint(page, 'path.kat-area');
  await page.mouse.click(pt.x, pt.y);
  const popup = page.locator('.leaflet-popup-content .kat-popup');
  await popup.waitFor({ state: 'visible' });
  const text = await popup.textContent();
  assert.match(text, /Group/);
  assert.match(text, /Status/);
  assert.match(text, /As of/);
  assert.match(text, /Basis/);
  const areas = await allFeatures('/collections/gang_areas/items?limit=1000');
  const match = areas.features.find((f) => text.includes(f.properties.basis || '\u0000') && text.includes(f.properties.group));
  assert.ok(match, 'the popup shows an area from the API');
  if (['section', 'commune', 'department'].includes(match.properties.basis_level)) {
    assert.match(text, /approximate/i);
  }
  assert.equal(await popup.locator('.kat-source a').first().getAttribute('href'), match.properties.source_url);
  assert.deepEqual(errors, []);
  await context.close();
});

async function waitIdle(page) {
  await page.waitForFunction(() => document.querySelector('[role=status]').getAttribute('aria-busy') === 'false');
}
