// The URL holds the view and the filters: opening it elsewhere restores both, and Back and
// Forward step through filter changes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, statusCount, viewRequestAfter, filtersOf, isViewItems } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

function hashParams(page) {
  return new URLSearchParams(new URL(page.url()).hash.slice(1));
}

function assertSameBbox(a, b) {
  const x = a.split(',').map(Number), y = b.split(',').map(Number);
  assert.equal(x.length, 4);
  x.forEach((v, i) => assert.ok(Math.abs(v - y[i]) < 0.002, `bbox ${a} vs ${b}`));
}

async function form(page) {
  return {
    from: await page.inputValue('#from'),
    to: await page.inputValue('#to'),
    type: await page.inputValue('#event-type'),
    dept: await page.inputValue('#department'),
  };
}

test('a permalink restores the view and the filters in a new page', async () => {
  const a = await openPage(browser, { hash: '#z=10&lat=18.62&lon=-72.38' });
  let last = await viewRequestAfter(a.page, async () => {
    await a.page.fill('#from', '2023-03-01');
    await a.page.fill('#to', '2025-12-31');
    await a.page.selectOption('#event-type', 'armed_clash');
    await a.page.selectOption('#department', 'Ouest');
  }, (u) => u.searchParams.get('department') === 'Ouest' && u.searchParams.get('event_type') === 'armed_clash' &&
    u.searchParams.get('datetime') === '2023-03-01/2025-12-31');
  // Zoom in one step: the URL follows the view.
  last = await viewRequestAfter(a.page, () => a.page.click('.leaflet-control-zoom-in'),
    (u) => u.searchParams.get('bbox') !== last.searchParams.get('bbox'));
  await a.page.waitForFunction(() => new URLSearchParams(location.hash.slice(1)).get('z') === '11');
  const h = hashParams(a.page);
  assert.equal(h.get('z'), '11');
  assert.equal(h.get('type'), 'armed_clash');
  assert.equal(h.get('dept'), 'Ouest');
  assert.equal(h.get('from'), '2023-03-01');
  assert.equal(h.get('to'), '2025-12-31');
  assert.ok(Math.abs(Number(h.get('lat')) - 18.62) < 0.01 && Math.abs(Number(h.get('lon')) + 72.38) < 0.01);
  const count = await statusCount(a.page);
  const link = a.page.url();

  // A new page, same size, opened on the link.
  const b = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await b.route('**/*', (r) => (new URL(r.request().url()).hostname === '127.0.0.1' ? r.continue() : r.abort()));
  const page = await b.newPage();
  const first = page.waitForRequest((r) => isViewItems(r.url()));
  await page.goto(link);
  const url = new URL((await first).url());
  await page.waitForFunction(() => document.querySelector('[role=status]').getAttribute('aria-busy') === 'false');
  assert.deepEqual(await form(page), { from: '2023-03-01', to: '2025-12-31', type: 'armed_clash', dept: 'Ouest' });
  assert.deepEqual(filtersOf(url), filtersOf(last));
  assertSameBbox(url.searchParams.get('bbox'), last.searchParams.get('bbox'));
  assert.equal(await statusCount(page), count);
  assert.equal(hashParams(page).get('z'), '11');
  await b.close();
  assert.deepEqual(a.errors, []);
  await a.context.close();
});

test('Back and Forward restore earlier filters and views', async () => {
  const { context, page, errors } = await openPage(browser, { hash: '#z=8&lat=19.05&lon=-73.05' });
  const c0 = await statusCount(page);
  await viewRequestAfter(page, () => page.selectOption('#event-type', 'attack_on_civilians'),
    (u) => u.searchParams.get('event_type') === 'attack_on_civilians');
  const c1 = await statusCount(page);
  await viewRequestAfter(page, () => page.selectOption('#department', 'Ouest'),
    (u) => u.searchParams.get('department') === 'Ouest');
  const c2 = await statusCount(page);
  assert.ok(c0 > c1 && c1 > c2, `${c0} > ${c1} > ${c2}`);

  let url = await viewRequestAfter(page, () => page.goBack(), (u) => !u.searchParams.has('department'));
  assert.deepEqual(filtersOf(url), { event_type: 'attack_on_civilians' });
  assert.equal(await page.inputValue('#department'), '');
  assert.equal(await page.inputValue('#event-type'), 'attack_on_civilians');
  assert.equal(await statusCount(page), c1);

  url = await viewRequestAfter(page, () => page.goBack(), (u) => !u.searchParams.has('event_type'));
  assert.deepEqual(filtersOf(url), {});
  assert.equal(await page.inputValue('#event-type'), '');
  assert.equal(await statusCount(page), c0);

  url = await viewRequestAfter(page, () => page.goForward(), (u) => u.searchParams.get('event_type') === 'attack_on_civilians');
  assert.equal(await page.inputValue('#event-type'), 'attack_on_civilians');
  assert.equal(await statusCount(page), c1);

  url = await viewRequestAfter(page, () => page.goForward(), (u) => u.searchParams.get('department') === 'Ouest');
  assert.equal(await page.inputValue('#department'), 'Ouest');
  assert.equal(await statusCount(page), c2);
  assert.deepEqual(errors, []);
  await context.close();
});
