// Each filter changes the query the page sends and the count it shows, and that count is
// the API's own numberMatched for the same query.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, api, allFeatures, statusCount, viewRequestAfter, itemsPath, filtersOf, isViewItems } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** The page's count equals numberMatched of the API and the number of features it returns. */
async function assertCountMatches(page, url, filters) {
  assert.deepEqual(filtersOf(url), filters, 'the page sends exactly the active filters');
  const bbox = url.searchParams.get('bbox');
  const own = await allFeatures(itemsPath(bbox, filters, { limit: 1000 }));
  assert.equal(own.features.length, own.numberMatched);
  assert.equal(await statusCount(page), own.numberMatched, `count for ${JSON.stringify(filters)}`);
  return own.numberMatched;
}

test('every filter has a label and the options the API knows', async () => {
  const { context, page, errors } = await openPage(browser);
  for (const [label, id] of [['From', 'from'], ['To', 'to'], ['Event type', 'event-type'], ['Department', 'department'], ['Radius', 'radius']]) {
    // In the filters: the editing form, when the server takes edits, has its own.
    const control = page.locator('#filters').getByLabel(label, { exact: true });
    assert.equal(await control.getAttribute('id'), id, `"${label}" labels #${id}`);
    assert.equal(await page.locator(`label[for="${id}"]`).count(), 1);
  }
  assert.equal(await page.locator('#from').getAttribute('type'), 'date');
  assert.equal(await page.locator('#to').getAttribute('type'), 'date');
  const types = await page.locator('#event-type option').evaluateAll((os) => os.map((o) => [o.value, o.textContent]));
  assert.deepEqual(types.map((t) => t[0]), ['', 'armed_clash', 'attack_on_civilians', 'massacre', 'kidnapping', 'police_operation',
    'prison_break', 'arson_looting', 'attack_on_infrastructure', 'lynching_vigilante', 'sexual_violence', 'displacement', 'other']);
  assert.ok(types.slice(1).every(([v, label]) => label && !label.includes('_') && label !== v), 'human labels');
  const depts = await page.locator('#department option').evaluateAll((os) => os.map((o) => o.value));
  assert.deepEqual(depts, ['', 'Artibonite', 'Centre', "Grand'Anse", 'Nippes', 'Nord', 'Nord-Est', 'Nord-Ouest', 'Ouest', 'Sud', 'Sud-Est']);
  // The departments the select offers are the boundaries' names.
  const boundaries = await api('/simplified/departments.geojson');
  assert.deepEqual(boundaries.features.map((f) => f.properties.name).sort(), depts.slice(1).sort());
  assert.deepEqual(errors, []);
  await context.close();
});

test('From, To, Event type and Department each change the request and the count', async () => {
  const { context, page, errors } = await openPage(browser);
  const counts = {};
  counts.none = await statusCount(page);

  let url = await viewRequestAfter(page, () => page.fill('#from', '2024-01-01'),
    (u) => u.searchParams.get('datetime') === '2024-01-01/..');
  counts.from = await assertCountMatches(page, url, { datetime: '2024-01-01/..' });

  url = await viewRequestAfter(page, () => page.fill('#to', '2024-06-30'),
    (u) => u.searchParams.get('datetime') === '2024-01-01/2024-06-30');
  counts.fromTo = await assertCountMatches(page, url, { datetime: '2024-01-01/2024-06-30' });

  url = await viewRequestAfter(page, () => page.fill('#from', ''),
    (u) => u.searchParams.get('datetime') === '../2024-06-30');
  counts.to = await assertCountMatches(page, url, { datetime: '../2024-06-30' });

  url = await viewRequestAfter(page, () => page.fill('#to', ''), (u) => !u.searchParams.has('datetime'));
  assert.equal(await assertCountMatches(page, url, {}), counts.none);

  url = await viewRequestAfter(page, () => page.selectOption('#event-type', 'armed_clash'),
    (u) => u.searchParams.get('event_type') === 'armed_clash');
  counts.type = await assertCountMatches(page, url, { event_type: 'armed_clash' });

  url = await viewRequestAfter(page, () => page.selectOption('#department', 'Artibonite'),
    (u) => u.searchParams.get('department') === 'Artibonite');
  counts.typeDept = await assertCountMatches(page, url, { event_type: 'armed_clash', department: 'Artibonite' });

  url = await viewRequestAfter(page, () => page.selectOption('#event-type', ''),
    (u) => !u.searchParams.has('event_type'));
  counts.dept = await assertCountMatches(page, url, { department: 'Artibonite' });

  // One day: both ends the same date.
  url = await viewRequestAfter(page, async () => {
    await page.selectOption('#department', '');
    await page.fill('#from', '2024-10-03');
    await page.fill('#to', '2024-10-03');
  }, (u) => u.searchParams.get('datetime') === '2024-10-03' && !u.searchParams.has('department'));
  await assertCountMatches(page, url, { datetime: '2024-10-03' });

  // Every filter narrows what is shown, and none is sent empty.
  for (const k of ['from', 'fromTo', 'to', 'type', 'dept']) {
    assert.ok(counts[k] < counts.none, `${k} narrows (${counts[k]} < ${counts.none})`);
  }
  assert.ok(counts.typeDept <= counts.type && counts.typeDept <= counts.dept);
  assert.deepEqual(errors, []);
  await context.close();
});

test('Clear filters drops every filter from the query', async () => {
  const { context, page, errors } = await openPage(browser, { hash: '#z=8&lat=19.05&lon=-73.05&type=massacre&dept=Ouest&from=2023-01-01' });
  assert.equal(await page.inputValue('#event-type'), 'massacre');
  const url = await viewRequestAfter(page, () => page.click('#reset'),
    (u) => !u.searchParams.has('event_type') && !u.searchParams.has('department') && !u.searchParams.has('datetime'));
  await assertCountMatches(page, url, {});
  assert.equal(await page.inputValue('#department'), '');
  assert.deepEqual(errors, []);
  await context.close();
});

/** Every incident in a bbox, from the API, to count by brute force here. */
async function everyIncident(bbox) {
  const all = await allFeatures(itemsPath(bbox, {}, { limit: 1000 }));
  assert.equal(all.features.length, all.numberMatched);
  return all.features;
}

test('several event types at once: the count is every incident of those types', async () => {
  const { context, page, errors } = await openPage(browser);
  const chosen = ['armed_clash', 'massacre', 'kidnapping'];
  const seen = [];
  page.on('request', (r) => { if (isViewItems(r.url())) seen.push(new URL(r.url())); });
  await page.selectOption('#event-type', chosen);
  await page.waitForFunction((n) => /#.*type=/.test(location.hash), chosen.length);
  await page.waitForTimeout(DEBOUNCE_WAIT);
  const count = await statusCount(page);
  const bbox = seen[seen.length - 1].searchParams.get('bbox');
  const brute = (await everyIncident(bbox)).filter((f) => chosen.includes(f.properties.event_type)).length;
  assert.equal(count, brute, 'count of the three types');
  let sum = 0;
  for (const t of chosen) sum += (await api(itemsPath(bbox, { event_type: t }, { limit: 1 }))).numberMatched;
  assert.equal(count, sum, 'the sum of numberMatched for each type');
  // Each request the page sent carries the filters it can: one type each, or one CQL2 filter.
  const last = seen.slice(-chosen.length);
  const asked = last.flatMap((u) => (u.searchParams.has('filter') ? chosen : [u.searchParams.get('event_type')]));
  assert.deepEqual([...new Set(asked)].sort(), [...chosen].sort());
  // The permalink keeps them.
  const hash = await page.evaluate(() => location.hash);
  assert.equal(new URLSearchParams(hash.slice(1)).get('type'), chosen.join(','));
  const again = await openPage(browser, { hash });
  assert.deepEqual(await again.page.locator('#event-type').evaluate((s) => [...s.selectedOptions].map((o) => o.value)), chosen);
  assert.equal(await statusCount(again.page), count);
  assert.deepEqual(again.errors, []);
  await again.context.close();
  assert.deepEqual(errors, []);
  await context.close();
});

const DEBOUNCE_WAIT = 800;

test('a minimum number of fatalities keeps the incidents with at least that many', async () => {
  const { context, page, errors } = await openPage(browser);
  const urls = [];
  page.on('request', (r) => { if (isViewItems(r.url())) urls.push(new URL(r.url())); });
  await page.fill('#min-fatalities', '10');
  await page.locator('#min-fatalities').dispatchEvent('change');
  await page.waitForFunction(() => /fmin=10/.test(location.hash));
  await page.waitForTimeout(DEBOUNCE_WAIT);
  const count = await statusCount(page);
  const bbox = urls[urls.length - 1].searchParams.get('bbox');
  const all = await everyIncident(bbox);
  const brute = all.filter((f) => typeof f.properties.fatalities === 'number' && f.properties.fatalities >= 10).length;
  assert.ok(brute > 0 && brute < all.length, `the minimum narrows (${brute} of ${all.length})`);
  assert.equal(count, brute);
  // With a type as well.
  await page.selectOption('#event-type', 'massacre');
  await page.waitForFunction(() => /type=massacre/.test(location.hash));
  await page.waitForTimeout(DEBOUNCE_WAIT);
  const both = all.filter((f) => f.properties.event_type === 'massacre' && f.properties.fatalities >= 10).length;
  assert.equal(await statusCount(page), both);
  // A reload of the permalink gives the same.
  const hash = await page.evaluate(() => location.hash);
  const again = await openPage(browser, { hash });
  assert.equal(await again.page.inputValue('#min-fatalities'), '10');
  assert.equal(await statusCount(again.page), both);
  await again.context.close();
  assert.deepEqual(errors, []);
  await context.close();
});
