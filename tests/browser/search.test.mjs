// "Find a place": suggestions while typing (an ARIA combobox, driven from the keyboard),
// French, Kreyòl and misspelt names, and the map moving to the place /geocode gives.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, api, mapView, metres } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** Types `text` key by key, as a person would, and waits for the suggestions. */
async function typeAndWait(page, text) {
  const box = page.getByRole('combobox', { name: 'Find a place' });
  await box.fill('');
  await box.pressSequentially(text, { delay: 40 });
  await page.locator('#place-options [role=option]').first().waitFor({ state: 'visible', timeout: 10_000 });
  return box;
}

/** Waits until the permalink's centre is within `tol` metres of [lon, lat]. */
async function waitCentre(page, lonlat, tol) {
  let v;
  for (let i = 0; i < 50; i++) {
    v = await mapView(page);
    if (metres([v.lon, v.lat], lonlat) <= tol) return v;
    await page.waitForTimeout(100);
  }
  throw new Error(`map centre ${v.lon},${v.lat} is not within ${tol} m of ${lonlat}`);
}

test('"Ponsonde" typed in Find a place moves the map to Pont-Sondé and says how precise it is', async () => {
  const { context, page, errors } = await openPage(browser);
  const expected = (await api('/geocode?q=Ponsonde&limit=1')).features[0];
  assert.equal(expected.properties.commune, 'Saint-Marc');

  const box = await typeAndWait(page, 'Ponsonde');
  assert.equal(await box.getAttribute('aria-expanded'), 'true');
  assert.equal(await box.getAttribute('aria-autocomplete'), 'list');
  const listId = await box.getAttribute('aria-controls');
  assert.equal(await page.locator(`#${listId}`).getAttribute('role'), 'listbox');
  const first = page.locator('#place-options [role=option]').first();
  assert.match(await first.textContent(), /Ponsonde|Pont-Sond/);

  await page.keyboard.press('ArrowDown');
  const active = await box.getAttribute('aria-activedescendant');
  assert.ok(active, 'the highlighted option is the active descendant');
  assert.equal(await page.locator(`#${active}`).getAttribute('aria-selected'), 'true');
  await page.keyboard.press('Enter');
  assert.equal(await box.getAttribute('aria-expanded'), 'false', 'choosing closes the list');

  // The map is centred on the place /geocode gives, zoomed in.
  const v = await waitCentre(page, expected.geometry.coordinates, 50);
  assert.ok(v.z >= 11, `zoomed in (z=${v.z})`);
  // It says how precisely the place is known, in the popup and to screen readers.
  const popup = page.locator('.leaflet-popup-content');
  await popup.waitFor({ state: 'visible' });
  const level = { 1: /locality/i, 2: /communal section/i, 3: /commune/i, 4: /department/i }[expected.properties.precision];
  assert.match(await popup.textContent(), level);
  assert.match(await popup.textContent(), /Saint-Marc/);
  assert.match(await page.locator('#place-note').textContent(), level);
  assert.deepEqual(errors, []);
  await context.close();
});

test('suggestions come before the name is finished, in French, Kreyòl or misspelt', async () => {
  const { context, page, errors } = await openPage(browser);
  // Half a name: the places whose names begin with it.
  await typeAndWait(page, 'Pont-So');
  assert.match(await page.locator('#place-options').textContent(), /Pont-Sond/);
  // Kreyòl and a misspelling: the list holds what /geocode answers for the whole name.
  for (const [typed, commune] of [['Okap', 'Cap-Haïtien'], ['Gonayiv', 'Gonaïves'], ['Mirebalai', 'Mirebalais']]) {
    await typeAndWait(page, typed);
    const best = (await api(`/geocode?q=${encodeURIComponent(typed)}&limit=1`)).features[0];
    assert.equal(best.properties.commune, commune, typed);
    assert.match(await page.locator('#place-options [role=option]').first().textContent(), new RegExp(best.properties.name), typed);
  }
  // A click chooses too; Escape closes the list without moving the map.
  await typeAndWait(page, 'Okap');
  const before = await mapView(page);
  await page.keyboard.press('Escape');
  assert.equal(await page.locator('#place-options').isHidden(), true);
  assert.deepEqual(await mapView(page), before);
  await typeAndWait(page, 'Jakmel');
  await page.locator('#place-options [role=option]').first().click();
  const jacmel = (await api('/geocode?q=Jakmel&limit=1')).features[0];
  await waitCentre(page, jacmel.geometry.coordinates, 50);
  // Nothing known: the list says so.
  const box = page.getByRole('combobox', { name: 'Find a place' });
  await box.fill('');
  await box.pressSequentially('Zzyzzq', { delay: 30 });
  await page.locator('#place-options .search-none').waitFor({ state: 'visible' });
  assert.deepEqual(errors, []);
  await context.close();
});
