// A map for members only: against a server started with --private (tests/browser.rs starts
// one on a throwaway PostgreSQL cluster and sets KAT_PRIVATE_TOKEN, a viewer's token), the
// page shows no incident until someone signs in, then shows the map with the token on every
// request it makes, and its downloads carry the token too. Against a public server these
// tests skip.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, waitLoaded, statusCount, isViewItems, readJSON, BASE } from './helpers.mjs';

const TOKEN = process.env.KAT_PRIVATE_TOKEN || '';
const skip = TOKEN ? false : 'needs a server started with --private (tests/browser.rs starts one)';
const HOST = new URL(BASE).host;

let browser;
before(async () => {
  if (!TOKEN) return;
  const res = await fetch(`${BASE}/collections`, { headers: { Accept: 'application/json' } });
  assert.equal(res.status, 401, 'KAT_PRIVATE_TOKEN is set, so the server must refuse reads without it');
  browser = await launch();
});
after(async () => { await browser?.close(); });

/** JSON from the server with the token, outside the browser. */
async function authed(pathAndQuery) {
  const res = await fetch(BASE + pathAndQuery, {
    headers: { Accept: 'application/geo+json, application/json', Authorization: `Bearer ${TOKEN}` },
  });
  const text = await res.text();
  assert.equal(res.status, 200, `${pathAndQuery} with the token: ${text}`);
  return JSON.parse(text);
}

/**
 * The map in a fresh context, every request off this server aborted. `initToken` is put in
 * sessionStorage before the first load only (the page reloads itself after a sign-in).
 */
async function openPrivate({ initToken = null } = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  await context.route('**/*', (route) => (new URL(route.request().url()).host === HOST ? route.continue() : route.abort()));
  if (initToken) {
    await context.addInitScript((t) => {
      if (!sessionStorage.getItem('test.seeded')) {
        sessionStorage.setItem('test.seeded', '1');
        sessionStorage.setItem('kat.token', t);
      }
    }, initToken);
  }
  const page = await context.newPage();
  const requests = [];
  page.on('request', (r) => { if (new URL(r.url()).host === HOST) requests.push(r); });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${BASE}/`);
  return { context, page, requests, errors };
}

async function signIn(page, token) {
  const form = page.locator('#signin-form');
  await form.waitFor({ state: 'visible', timeout: 20_000 });
  await page.fill('#edit-token', token);
  const view = page.waitForRequest((r) => isViewItems(r.url()), { timeout: 20_000 });
  await Promise.all([page.waitForEvent('load'), form.locator('button[type=submit]').click()]);
  const first = await view;
  await waitLoaded(page);
  return new URL(first.url());
}

test('without a token the map asks for one and shows no incident', { skip }, async () => {
  const { context, page, errors } = await openPrivate();
  await page.locator('#signin-form').waitFor({ state: 'visible', timeout: 20_000 });
  assert.equal(await page.locator('#editor-title').textContent(), 'Sign in to see the map');
  assert.match(await page.locator('#editor-note').textContent(), /members only/);
  await page.waitForFunction(() => /members only/.test(document.querySelector('[role=status]').textContent), null, { timeout: 20_000 });
  assert.equal(await page.locator('.kat-incident').count(), 0, 'no incident is drawn');
  assert.equal(await page.locator('#edit-bar').isVisible(), true, 'the sign-in button shows');
  assert.deepEqual(errors, []);
  await context.close();
});

test('signed in, the map shows the view\'s incidents and every request carries the token', { skip }, async () => {
  const { context, page, requests, errors } = await openPrivate();
  await page.locator('#signin-form').waitFor({ state: 'visible', timeout: 20_000 });
  requests.length = 0;
  const view = await signIn(page, TOKEN);
  const expected = await authed(`${view.pathname}${view.search}`);
  assert.ok(expected.numberMatched > 0, 'the opening view holds incidents');
  assert.equal(await statusCount(page), expected.numberMatched);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('kat.token')), TOKEN);
  const reads = requests.filter((r) => !new URL(r.url()).pathname.startsWith('/static/') && new URL(r.url()).pathname !== '/');
  assert.ok(reads.length >= 5, `the map made its reads (${reads.length})`);
  for (const r of reads) {
    assert.equal(r.headers().authorization, `Bearer ${TOKEN}`, `${r.url()} carries the token`);
    assert.ok(!new URL(r.url()).search.includes(TOKEN), 'the token is never in a URL');
    const res = await r.response();
    if (res) assert.notEqual(res.status(), 401, `${r.url()} was answered`);
  }
  // A reader reads only: no "Add incident", and popups offer the history alone.
  await page.locator('#edit-signout').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#edit-add').isHidden(), true);
  const one = (await authed('/collections/incidents/items?limit=1')).features[0];
  await page.evaluate((f) => window.KatMap.openIncident(f), one);
  const popup = page.locator('.leaflet-popup-content .kat-popup');
  await popup.getByRole('button', { name: 'History' }).waitFor();
  assert.deepEqual(await popup.locator('.kat-edit-actions button').allTextContents(), ['History']);
  assert.deepEqual(errors, []);
  await context.close();
});

test('the view and layer downloads carry the token and hold what the API answers', { skip }, async () => {
  const { context, page } = await openPrivate();
  await page.locator('#signin-form').waitFor({ state: 'visible', timeout: 20_000 });
  await signIn(page, TOKEN);
  const link = page.locator('#download-view');
  const href = new URL(await link.getAttribute('href'), BASE);
  assert.equal(href.pathname, '/collections/incidents/download');
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  const body = readJSON(await download.path());
  const expected = await authed(`${href.pathname}${href.search}`);
  assert.equal(body.type, 'FeatureCollection');
  assert.ok(expected.features.length > 0);
  assert.deepEqual(body.features.map((f) => f.id).sort(), expected.features.map((f) => f.id).sort());
  assert.equal(download.suggestedFilename(), 'incidents-view.geojson');

  const layer = page.locator('#download-layers a[data-layer="gang_areas"]');
  await layer.waitFor({ timeout: 20_000 });
  const [whole] = await Promise.all([page.waitForEvent('download'), layer.click()]);
  const areas = readJSON(await whole.path());
  const all = await authed(new URL(await layer.getAttribute('href'), BASE).pathname + new URL(await layer.getAttribute('href'), BASE).search);
  assert.equal(areas.features.length, all.features.length);
  assert.ok(areas.features.length > 0);
  await context.close();
});

test('a token the server refuses is forgotten and the page asks again', { skip }, async () => {
  const { context, page } = await openPrivate({ initToken: 'kat_not_a_real_token' });
  await page.locator('#signin-form').waitFor({ state: 'visible', timeout: 20_000 });
  assert.match(await page.locator('#editor-note').textContent(), /did not take your token/);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('kat.token')), null);
  assert.equal(await page.locator('.kat-incident').count(), 0);
  await signIn(page, TOKEN);
  assert.ok(await statusCount(page) > 0);
  await context.close();
});

test('signing out takes the incidents off the screen', { skip }, async () => {
  const { context, page } = await openPrivate();
  await page.locator('#signin-form').waitFor({ state: 'visible', timeout: 20_000 });
  await signIn(page, TOKEN);
  await page.waitForFunction(() => document.querySelectorAll('.kat-incident, .marker-cluster').length > 0, null, { timeout: 20_000 });
  await Promise.all([page.waitForEvent('load'), page.locator('#edit-signout').click()]);
  await page.locator('#signin-form').waitFor({ state: 'visible', timeout: 20_000 });
  assert.equal(await page.locator('.kat-incident, .marker-cluster').count(), 0);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('kat.token')), null);
  await context.close();
});

test('the API documentation page reads the definition with the map\'s token', { skip }, async () => {
  const { context, page } = await openPrivate();
  await page.goto(`${BASE}/static/api.html`);
  await page.waitForFunction(() => /members only/.test(document.getElementById('api-status').textContent), null, { timeout: 20_000 });
  await page.goto(`${BASE}/`);
  await signIn(page, TOKEN);
  await page.getByRole('link', { name: 'API documentation' }).click();
  await page.waitForFunction(() => /\d+ paths\./.test(document.getElementById('api-status').textContent), null, { timeout: 20_000 });
  const expected = Object.keys((await authed('/api')).paths).length;
  assert.equal(await page.locator('#api-status').textContent(), `${expected} paths.`);
  await context.close();
});
