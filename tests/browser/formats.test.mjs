// The download's file format: "Download this view" as CSV or GeoPackage keeps the view and its
// filters, and each layer's link follows the chosen format from the collection's enclosures.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  launch, openPage, allFeatures, api, viewRequestAfter, idSet, sorted, itemsPath, BASE,
} from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** RFC 4180 CSV: rows of fields, quoted fields may hold commas, quotes and line breaks. */
function parseCSV(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field); rows.push(row); row = []; field = ''; i++;
    } else field += c;
  }
  if (field || row.length) { row.push(field); rows.push(row); }
  return rows;
}

async function download(page, link) {
  const [d] = await Promise.all([page.waitForEvent('download'), link.click()]);
  return { bytes: readFileSync(await d.path()), name: d.suggestedFilename() };
}

test('the view downloads as CSV and GeoPackage with the map\'s area and filters', async () => {
  const { context, page, errors } = await openPage(browser, { hash: '#z=9&lat=18.75&lon=-72.5' });
  const url = await viewRequestAfter(page, async () => {
    await page.selectOption('#department', 'Ouest');
  }, (u) => u.searchParams.get('department') === 'Ouest');
  const format = page.getByLabel('File format');
  assert.equal(await format.inputValue(), 'geojson', 'GeoJSON is the default');
  const items = await allFeatures(itemsPath(url.searchParams.get('bbox'), { department: 'Ouest' }, { limit: 1000 }));
  assert.ok(items.features.length > 0);

  await format.selectOption('csv');
  const link = page.getByRole('link', { name: 'Download this view (CSV)' });
  const href = new URL(await link.getAttribute('href'), BASE);
  assert.equal(href.pathname, '/collections/incidents/download');
  assert.equal(href.searchParams.get('f'), 'csv');
  assert.equal(href.searchParams.get('bbox'), url.searchParams.get('bbox'), 'same bbox as the view');
  assert.equal(href.searchParams.get('department'), 'Ouest');
  const csv = await download(page, link);
  assert.ok(csv.name.endsWith('.csv'), csv.name);
  assert.deepEqual([...csv.bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'a UTF-8 BOM for spreadsheets');
  const rows = parseCSV(csv.bytes.subarray(3).toString('utf8'));
  const header = rows.shift();
  assert.equal(header[0], 'id');
  const department = header.indexOf('department');
  assert.ok(rows.every((r) => r.length === header.length && r[department] === 'Ouest'));
  assert.deepEqual(sorted(new Set(rows.map((r) => r[0]))), sorted(idSet(items.features)));

  await format.selectOption('gpkg');
  const gpkgLink = page.getByRole('link', { name: 'Download this view (GeoPackage)' });
  assert.equal(new URL(await gpkgLink.getAttribute('href'), BASE).searchParams.get('f'), 'gpkg');
  const gpkg = await download(page, gpkgLink);
  assert.ok(gpkg.name.endsWith('.gpkg'), gpkg.name);
  assert.equal(gpkg.bytes.subarray(0, 16).toString('latin1'), 'SQLite format 3\0');

  // Changing a filter keeps the chosen format.
  await viewRequestAfter(page, () => page.selectOption('#department', 'Artibonite'), (u) => u.searchParams.get('department') === 'Artibonite');
  const after = new URL(await gpkgLink.getAttribute('href'), BASE);
  assert.equal(after.searchParams.get('department'), 'Artibonite');
  assert.equal(after.searchParams.get('f'), 'gpkg');
  assert.deepEqual(errors, []);
  await context.close();
});

test('each layer\'s whole-layer link follows the chosen format', async () => {
  const { context, page, errors } = await openPage(browser);
  const collections = await api('/collections');
  const n = collections.collections.length;
  await page.waitForFunction((k) => document.querySelectorAll('#download-layers a[download]').length === k, n);
  await page.getByLabel('File format').selectOption('csv');
  const links = await page.locator('#download-layers a[download]').evaluateAll((as) => as.map((a) => [a.href, a.textContent, a.getAttribute('download')]));
  for (const c of collections.collections) {
    const csv = c.links.find((l) => l.rel === 'enclosure' && l.type === 'text/csv');
    assert.ok(csv, `${c.id} has a CSV enclosure`);
    const want = new URL(csv.href, BASE).href;
    assert.ok(links.some(([h, text, name]) => h === want && /\(whole layer, CSV\)/.test(text) && name === `${c.id}.csv`), `a CSV link to ${want}`);
  }
  const gangAreas = page.locator('#download-layers a[data-layer="gang_areas"]');
  const [d] = await Promise.all([page.waitForEvent('download'), gangAreas.click()]);
  const rows = parseCSV(readFileSync(await d.path()).subarray(3).toString('utf8'));
  rows.shift();
  const items = await allFeatures('/collections/gang_areas/items?limit=1000');
  assert.deepEqual(sorted(new Set(rows.map((r) => r[0]))), sorted(idSet(items.features)));
  assert.deepEqual(errors, []);
  await context.close();
});
