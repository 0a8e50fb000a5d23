// "Download this view" saves the same features as the items query for the view and filters;
// one link per layer downloads the whole layer from its rel=enclosure link.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  launch, openPage, allFeatures, api, viewRequestAfter, readJSON, idSet, sorted, itemsPath, BASE,
} from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function downloadView(page) {
  const link = page.getByRole('link', { name: /Download this view/ });
  assert.equal(await link.getAttribute('download') !== null, true, 'the link has a download attribute');
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  const file = await download.path();
  return { body: readJSON(file), href: new URL(await link.getAttribute('href'), BASE), name: download.suggestedFilename() };
}

test('the view download equals the API items answer for the same bbox and filters', async () => {
  const { context, page, errors } = await openPage(browser, { hash: '#z=9&lat=18.75&lon=-72.5' });
  const url = await viewRequestAfter(page, async () => {
    await page.selectOption('#department', 'Ouest');
    await page.fill('#from', '2023-06-01');
  }, (u) => u.searchParams.get('department') === 'Ouest' && u.searchParams.get('datetime') === '2023-06-01/..');

  const { body, href, name } = await downloadView(page);
  assert.equal(href.pathname, '/collections/incidents/download');
  assert.equal(href.searchParams.get('bbox'), url.searchParams.get('bbox'), 'same bbox as the view');
  assert.equal(href.searchParams.get('department'), 'Ouest');
  assert.equal(href.searchParams.get('datetime'), '2023-06-01/..');
  assert.ok(name.endsWith('.geojson'), name);
  assert.equal(body.type, 'FeatureCollection');

  const items = await allFeatures(itemsPath(url.searchParams.get('bbox'), { department: 'Ouest', datetime: '2023-06-01/..' }, { limit: 1000 }));
  assert.ok(items.features.length > 0);
  assert.deepEqual(sorted(idSet(body.features)), sorted(idSet(items.features)));

  // Without filters the download is the whole view.
  await viewRequestAfter(page, () => page.click('#reset'), (u) => !u.searchParams.has('department'));
  const all = await downloadView(page);
  const allItems = await allFeatures(itemsPath(all.href.searchParams.get('bbox'), {}, { limit: 1000 }));
  assert.deepEqual(sorted(idSet(all.body.features)), sorted(idSet(allItems.features)));
  assert.ok(all.body.features.length > body.features.length);
  assert.deepEqual(errors, []);
  await context.close();
});

test('one download link per layer, from the collections\' enclosure links', async () => {
  const { context, page, errors } = await openPage(browser);
  const collections = await api('/collections');
  const layers = ['incidents', 'gang_areas', 'departments', 'communes', 'sections'];
  await page.waitForFunction((n) => document.querySelectorAll('#download-layers a[download]').length === n, layers.length);
  const hrefs = await page.locator('#download-layers a[download]').evaluateAll((as) => as.map((a) => [a.href, a.textContent]));
  for (const id of layers) {
    const c = collections.collections.find((x) => x.id === id);
    assert.ok(c, `collection ${id}`);
    const enclosure = c.links.find((l) => l.rel === 'enclosure');
    assert.ok(enclosure, `${id} has an enclosure link`);
    const want = new URL(enclosure.href, BASE).href;
    assert.ok(hrefs.some(([h, text]) => h === want && /Download/.test(text)), `a link to ${want}`);
  }
  // The gang areas link downloads the whole layer.
  const link = page.locator('#download-layers a[download]').nth(1);
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  const body = readJSON(await download.path());
  const items = await allFeatures('/collections/gang_areas/items?limit=1000');
  assert.deepEqual(sorted(idSet(body.features)), sorted(idSet(items.features)));
  assert.deepEqual(errors, []);
  await context.close();
});
