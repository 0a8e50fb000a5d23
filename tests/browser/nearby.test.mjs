// A click on the map lists the incidents near that point, as the API's near/within answer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, api, emptyMapPoint } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

function isNear(href) {
  const u = new URL(href);
  return u.pathname === '/collections/incidents/items' && u.searchParams.has('near');
}

async function clickMapForNearby(page, predicate = () => true) {
  const pt = await emptyMapPoint(page);
  const req = page.waitForRequest((r) => isNear(r.url()) && predicate(new URL(r.url())));
  await page.mouse.click(pt.x, pt.y);
  const url = new URL((await req).url());
  await page.waitForFunction(() => document.getElementById('nearby').getAttribute('aria-busy') === 'false');
  return url;
}

async function listed(page) {
  return page.locator('#nearby-list button[data-id]').evaluateAll((bs) => bs.map((b) => ({
    id: b.dataset.id,
    text: b.textContent,
    km: b.querySelector('.nearby-dist').textContent,
  })));
}

test('a map click lists the nearby incidents with distances, as the API answers', async () => {
  const { context, page, errors } = await openPage(browser, { hash: '#z=12&lat=18.555&lon=-72.31' });
  const url = await clickMapForNearby(page);
  assert.equal(url.searchParams.get('within'), '5000', 'the default radius is 5 km');
  assert.equal(url.searchParams.get('limit'), '50');
  assert.match(url.searchParams.get('near'), /^-?\d+\.\d+,-?\d+\.\d+$/);
  assert.equal(await page.locator('#nearby').isVisible(), true);
  assert.equal(await page.locator('path.kat-near-circle').count(), 1, 'a circle shows the radius');

  const want = await api(`/collections/incidents/items?near=${url.searchParams.get('near')}&within=5000&limit=50`);
  const got = await listed(page);
  assert.ok(want.features.length > 0, 'the point has incidents within 5 km');
  assert.deepEqual(got.map((g) => g.id), want.features.map((f) => String(f.id)), 'same incidents, nearest first');
  want.features.forEach((f, i) => {
    assert.equal(got[i].km, `${(f.properties.distance_m / 1000).toFixed(1)} km`);
    assert.ok(got[i].text.includes(f.properties.event_date));
  });
  assert.match(await page.locator('#nearby-summary').textContent(), new RegExp(`^${want.numberMatched} incidents? within 5 km`));

  // A wider radius asks again for the same point.
  const wider = page.waitForRequest((r) => isNear(r.url()) && new URL(r.url()).searchParams.get('within') === '25000');
  await page.selectOption('#radius', '25');
  const w = new URL((await wider).url());
  assert.equal(w.searchParams.get('near'), url.searchParams.get('near'));
  await page.waitForFunction(() => document.getElementById('nearby').getAttribute('aria-busy') === 'false');
  const want25 = await api(`/collections/incidents/items?near=${w.searchParams.get('near')}&within=25000&limit=50`);
  assert.deepEqual((await listed(page)).map((g) => g.id), want25.features.map((f) => String(f.id)));
  assert.ok(want25.features.length >= want.features.length);

  // A filter applies to the nearby list too.
  const filtered = page.waitForRequest((r) => isNear(r.url()) && new URL(r.url()).searchParams.get('event_type') === 'armed_clash');
  await page.selectOption('#event-type', 'armed_clash');
  const f = new URL((await filtered).url());
  await page.waitForFunction(() => document.getElementById('nearby').getAttribute('aria-busy') === 'false');
  const wantF = await api(`/collections/incidents/items?near=${f.searchParams.get('near')}&within=25000&limit=50&event_type=armed_clash`);
  assert.deepEqual((await listed(page)).map((g) => g.id), wantF.features.map((x) => String(x.id)));

  // An entry opens its incident's popup.
  const first = page.locator('#nearby-list button[data-id]').first();
  const id = await first.getAttribute('data-id');
  await first.click();
  const popup = page.locator('.leaflet-popup-content .kat-popup');
  await popup.waitFor({ state: 'visible' });
  assert.match(await popup.locator('.kat-id').textContent(), new RegExp(`${id}$`));

  // Escape closes the list and removes the circle.
  await page.locator('#nearby-close').focus();
  await page.keyboard.press('Escape');
  assert.equal(await page.locator('#nearby').isHidden(), true);
  assert.equal(await page.locator('path.kat-near-circle').count(), 0);
  assert.deepEqual(errors, []);
  await context.close();
});
