// Editing from the map, against a server with a database (tests/browser.rs starts one on a
// throwaway PostgreSQL cluster and sets KAT_EDIT_TOKEN, KAT_EDIT_ACTOR, KAT_DATABASE_URL and
// KAT_PSQL): an editor signs in, adds an incident by clicking the map and another by a place
// name, corrects one from its popup (a merge patch with If-Match, a 412 when someone else
// wrote first) and reads its history, each checked in the database itself with psql.
// Against a server without a database, the map offers no editing at all.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { launch, openPage, api, emptyMapPoint, statusCount, idSet, BASE } from './helpers.mjs';

const TOKEN = process.env.KAT_EDIT_TOKEN || '';
const ADMIN_TOKEN = process.env.KAT_ADMIN_TOKEN || '';
const ADMIN = process.env.KAT_ADMIN_ACTOR || 'Browser Admin';
const DATABASE = process.env.KAT_DATABASE_URL || '';
const PSQL = process.env.KAT_PSQL || 'psql';
const EDITOR = process.env.KAT_EDIT_ACTOR || 'Browser Editor';
// Notes unique to this run, so that a database used before holds no such record.
const RUN = `synthetic record ${Date.now().toString(36)}`;

let browser;
let editable = false;
before(async () => {
  browser = await launch();
  const conformance = await api('/conformance');
  editable = conformance.conformsTo.some((c) => /ogcapi-features-4\/[\d.]+\/conf\/create-replace-delete$/.test(c));
  if (editable && (!TOKEN || !ADMIN_TOKEN || !DATABASE)) {
    throw new Error('the server takes edits: set KAT_EDIT_TOKEN, KAT_ADMIN_TOKEN and KAT_DATABASE_URL (tests/browser.rs does)');
  }
});
after(async () => { await browser?.close(); });

/** Rows of a query on the server's database, `|`-separated as psql -At prints them. */
function psql(sql) {
  return execFileSync(PSQL, [DATABASE, '-qAt', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8' }).trim();
}

function sqlString(s) { return `'${String(s).replace(/'/g, "''")}'`; }

/** The incident's row: its properties, its point and its revision. */
function row(id) {
  const out = psql(`SELECT feature->'properties', coalesce(ST_X(geom)::text, ''), coalesce(ST_Y(geom)::text, ''), revision FROM kat.incidents WHERE id = ${sqlString(id)}`);
  if (!out) return null;
  const parts = out.split('|');
  const revision = Number(parts.pop());
  const lat = parts.pop();
  const lon = parts.pop();
  return { properties: JSON.parse(parts.join('|')), lon: lon === '' ? null : Number(lon), lat: lat === '' ? null : Number(lat), revision };
}

/** The point under a page pixel, by the Web Mercator formulas from the view the hash names. */
function lonLatAt(hash, mapBox, x, y) {
  const p = new URLSearchParams(hash.replace(/^#/, ''));
  const z = Number(p.get('z')), lat = Number(p.get('lat')), lon = Number(p.get('lon'));
  const scale = 256 * 2 ** z;
  const cx = ((lon + 180) / 360) * scale;
  const s = Math.sin((lat * Math.PI) / 180);
  const cy = (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * scale;
  const wx = cx + (x - (mapBox.x + mapBox.width / 2));
  const wy = cy + (y - (mapBox.y + mapBox.height / 2));
  const plon = (wx / scale) * 360 - 180;
  const plat = (Math.atan(Math.sinh(Math.PI * (1 - (2 * wy) / scale))) * 180) / Math.PI;
  return [plon, plat];
}

/** Console errors, but not the browser's own line for a 4xx a test provoked. */
function unexpected(errors) {
  return errors.filter((e) => !/Failed to load resource: the server responded with a status of (400|401|412)/.test(e));
}

/**
 * Once the view stops moving (the popup may pan it), the status count, the API's count for
 * the view's last query and the ids that query answers.
 */
async function settledCount(page) {
  let last = null;
  for (let i = 0; i < 30; i++) {
    await page.waitForTimeout(400);
    const shown = await statusCount(page);
    const href = await page.evaluate(() => performance.getEntriesByType('resource')
      .map((e) => e.name).filter((n) => n.includes('/collections/incidents/items?') && n.includes('bbox=')).pop());
    if (href === last) {
      const bbox = new URL(href).searchParams.get('bbox');
      const all = await api(`/collections/incidents/items?bbox=${bbox}&limit=10000`);
      if (all.numberMatched === shown) return { shown, matched: all.numberMatched, ids: idSet(all.features) };
    }
    last = href;
  }
  throw new Error('the view did not settle');
}

async function signIn(page, token = TOKEN) {
  await page.getByRole('button', { name: 'Sign in to edit' }).click();
  await page.locator('#edit-token').fill(token);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('button', { name: 'Add incident' }).waitFor();
}

async function noteText(page, re) {
  await page.waitForFunction((src) => new RegExp(src).test(document.getElementById('editor-note').textContent), re.source, { timeout: 15_000 });
  return page.locator('#editor-note').textContent();
}

test('without a database the map offers no editing', async (t) => {
  if (editable) { t.skip('this server takes edits'); return; }
  const { context, page, errors } = await openPage(browser);
  await page.waitForTimeout(500);
  assert.equal(await page.locator('#edit-bar').isHidden(), true, 'no sign-in control');
  await page.locator('.leaflet-marker-icon.kat-incident').first().waitFor();
  await page.evaluate(() => window.KatMap.openIncident({ id: 'x', type: 'Feature', geometry: { type: 'Point', coordinates: [-72.33, 18.54] }, properties: {} }));
  await page.locator('.leaflet-popup-content .kat-popup').waitFor();
  assert.equal(await page.locator('.kat-edit-actions').count(), 0, 'no Correct or History in popups');
  assert.deepEqual(errors, []);
  await context.close();
});

test('an editor signs in, adds, corrects and reads the history of incidents from the map', async (t) => {
  if (!editable) { t.skip('this server takes no edits (start it with --database; tests/browser.rs does)'); return; }
  const { context, page, errors } = await openPage(browser, { hash: '#z=12&lat=18.555&lon=-72.31' });
  const consoleText = [];
  page.on('console', (m) => consoleText.push(m.text()));
  const requests = [];
  page.on('request', (r) => { if (r.method() !== 'GET') requests.push(r); });

  // Signing in: the token goes to sessionStorage, never into the URL or the console.
  await page.locator('#edit-signin').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#edit-add').isHidden(), true);
  await signIn(page);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('kat.token')), TOKEN);
  assert.equal(await page.evaluate(() => localStorage.length), 0, 'nothing kept beyond the tab');
  assert.ok(!page.url().includes(TOKEN), 'the token is not in the URL');

  // Adding by a click on the map; the first try lacks the event type and the server says so.
  const countBefore = await statusCount(page);
  await page.getByRole('button', { name: 'Add incident' }).click();
  await page.locator('#incident-form').waitFor({ state: 'visible' });
  const pt = await emptyMapPoint(page);
  const hash = await page.evaluate(() => location.hash);
  const box = await page.locator('#map').boundingBox();
  await page.mouse.click(pt.x, pt.y);
  await page.locator('.kat-draft').waitFor();
  await page.waitForFunction(() => /\(.*Ouest\)/.test(document.getElementById('incident-point').textContent));
  assert.equal(await page.locator('#nearby').isHidden(), true, 'a click that places opens no nearby list');
  assert.equal(await page.locator('#incident-department').inputValue(), 'Ouest', 'the department from the point');
  const commune = await page.locator('#incident-commune').inputValue();
  assert.ok(commune, 'the commune from the point');
  await page.fill('#incident-date', '2026-11-30');
  await page.fill('#incident-actors', 'Synthetic actor A\nSynthetic actor B');
  await page.fill('#incident-fatalities', '3');
  await page.fill('#incident-injured', '2');
  await page.fill('#incident-location', 'Synthetic street 1');
  await page.fill('#incident-source', 'https://example.org/synthetic-report');
  await page.fill('#incident-notes', RUN);
  await page.getByRole('button', { name: 'Add incident' }).last().click();
  const problem = page.locator('#incident-problem');
  await problem.waitFor({ state: 'visible' });
  assert.match(await problem.textContent(), /event_type/);
  assert.equal(await page.locator('#incident-type').getAttribute('aria-invalid'), 'true', 'the field the server names is marked');
  assert.equal(Number(psql(`SELECT count(*) FROM kat.incidents WHERE feature->'properties'->>'notes' = ${sqlString(RUN)}`)), 0);

  await page.selectOption('#incident-type', 'armed_clash');
  const posted = page.waitForRequest((r) => r.method() === 'POST');
  await page.getByRole('button', { name: 'Add incident' }).last().click();
  const post = await posted;
  assert.equal(post.headers()['content-type'], 'application/geo+json');
  assert.equal(post.headers().authorization, `Bearer ${TOKEN}`);
  const added = await noteText(page, /Added incident (\S+)\./);
  const id = /Added incident (\S+)\./.exec(added)[1];
  assert.match(added, /placed at locality level \(geo_precision 1\)/);

  // In the database: what was typed, at the point clicked, written by the editor.
  const stored = row(id);
  assert.ok(stored, `${id} is in kat.incidents`);
  const [lon, lat] = lonLatAt(hash, box, pt.x, pt.y);
  // Within two pixels: the view's centre in the hash is rounded, the map's box is fractional.
  const px = 360 / (256 * 2 ** Number(new URLSearchParams(hash.slice(1)).get('z')));
  assert.ok(Math.abs(stored.lon - lon) < 2 * px && Math.abs(stored.lat - lat) < 2 * px, `stored at ${stored.lon},${stored.lat}, clicked ${lon},${lat}`);
  const p = stored.properties;
  assert.equal(p.event_date, '2026-11-30');
  assert.equal(p.event_type, 'armed_clash');
  assert.deepEqual(p.actors, ['Synthetic actor A', 'Synthetic actor B']);
  assert.equal(p.fatalities, 3);
  assert.equal(p.injured, 2);
  assert.equal(p.kidnapped, undefined, 'a count left empty is not sent');
  assert.equal(p.location_as_reported, 'Synthetic street 1');
  assert.equal(p.source_url, 'https://example.org/synthetic-report');
  assert.equal(p.department, 'Ouest');
  assert.equal(p.commune, commune);
  assert.equal(stored.revision, 1);
  assert.equal(psql(`SELECT actor FROM kat.history WHERE collection = 'incidents' AND feature_id = ${sqlString(id)}`), EDITOR);

  // On the map: the layer was asked for again, the count grew, its popup is open.
  const popup = page.locator('.leaflet-popup-content .kat-popup');
  await page.waitForFunction((want) => {
    const e = document.querySelector('.leaflet-popup-content .kat-id');
    return e && e.textContent === `Record ${want}`;
  }, id, { timeout: 15_000 });
  assert.match(await popup.textContent(), /Synthetic street 1/);
  const settled = await settledCount(page);
  assert.equal(settled.shown, settled.matched, 'the status counts the view as the API does');
  assert.ok(settled.ids.has(id), 'the view\'s query holds the new incident');
  assert.ok(countBefore > 0);

  // Correcting it from its popup: a merge patch of what changed, with the ETag of the GET.
  await popup.getByRole('button', { name: 'Correct' }).click();
  await page.waitForFunction(() => document.getElementById('incident-date').value === '2026-11-30');
  assert.equal(await page.locator('#incident-fatalities').inputValue(), '3');
  assert.equal(await page.locator('#incident-actors').inputValue(), 'Synthetic actor A\nSynthetic actor B');
  await page.fill('#incident-fatalities', '5');
  await page.fill('#incident-notes', 'synthetic record, corrected');
  const patched = page.waitForRequest((r) => r.method() === 'PATCH');
  await page.getByRole('button', { name: 'Save correction' }).click();
  const patch = await patched;
  assert.equal(patch.headers()['content-type'], 'application/merge-patch+json');
  assert.equal(patch.headers()['if-match'], '"r1"');
  assert.deepEqual(JSON.parse(patch.postData()), { properties: { fatalities: 5, notes: 'synthetic record, corrected' } });
  await noteText(page, /Saved your correction/);
  const corrected = row(id);
  assert.equal(corrected.revision, 2);
  assert.equal(corrected.properties.fatalities, 5);
  assert.equal(corrected.properties.injured, 2, 'what the patch does not name stays');
  // The marker is drawn anew: its popup shows the corrected toll.
  await page.waitForFunction((want) => {
    const e = document.querySelector('.leaflet-popup-content .kat-popup');
    return e && e.textContent.includes(`Record ${want}`) && /Fatalities5/.test(e.textContent);
  }, id, { timeout: 15_000 });

  // Someone else writes between the GET and the save: 412, and the form shows their version.
  await popup.getByRole('button', { name: 'Correct' }).click();
  await page.waitForFunction(() => document.getElementById('incident-fatalities').value === '5');
  const other = await fetch(`${BASE}/collections/incidents/items/${encodeURIComponent(id)}`, {
    method: 'PATCH',
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/merge-patch+json', 'If-Match': '"r2"' },
    body: JSON.stringify({ properties: { injured: 9 } }),
  });
  assert.equal(other.status, 200, await other.text());
  await page.fill('#incident-fatalities', '6');
  await page.getByRole('button', { name: 'Save correction' }).click();
  await page.waitForFunction(() => /Someone else changed this incident/.test(document.getElementById('incident-problem').textContent));
  await page.waitForFunction(() => document.getElementById('incident-injured').value === '9');
  assert.equal(await page.locator('#incident-fatalities').inputValue(), '5', 'the form shows the stored version');
  assert.equal(row(id).properties.fatalities, 5, 'the stale save changed nothing');
  assert.equal(row(id).revision, 3);
  await page.fill('#incident-fatalities', '6');
  const again = page.waitForRequest((r) => r.method() === 'PATCH');
  await page.getByRole('button', { name: 'Save correction' }).click();
  assert.equal((await again).headers()['if-match'], '"r3"');
  await noteText(page, /Saved your correction/);
  assert.deepEqual([row(id).properties.fatalities, row(id).properties.injured, row(id).revision], [6, 9, 4]);

  // The history: every version, newest first, with who and what changed.
  await page.waitForFunction((want) => {
    const e = document.querySelector('.leaflet-popup-content .kat-id');
    return e && e.textContent === `Record ${want}`;
  }, id, { timeout: 15_000 });
  await popup.getByRole('button', { name: 'History' }).click();
  await page.waitForFunction(() => document.querySelectorAll('#history-list > li').length > 0);
  const versions = await page.locator('#history-list > li').evaluateAll((lis) => lis.map((li) => ({
    revision: Number(li.dataset.revision),
    head: li.querySelector('.history-head').textContent,
    fields: [...li.querySelectorAll('[data-field]')].map((f) => f.dataset.field),
    text: li.textContent,
  })));
  const inDb = psql(`SELECT revision, actor FROM kat.history WHERE collection = 'incidents' AND feature_id = ${sqlString(id)} ORDER BY revision DESC`)
    .split('\n').map((l) => l.split('|'));
  assert.deepEqual(versions.map((v) => v.revision), inDb.map((r) => Number(r[0])));
  assert.deepEqual(versions.map((v) => v.revision), [4, 3, 2, 1]);
  for (const v of versions) assert.ok(v.head.includes(`by ${EDITOR}`), v.head);
  assert.deepEqual(versions[0].fields, ['fatalities']);
  assert.deepEqual(versions[1].fields, ['injured']);
  assert.deepEqual(versions[2].fields.sort(), ['fatalities', 'notes']);
  assert.match(versions[2].text, /Fatalities: 3 → 5/);
  assert.ok(versions[3].fields.includes('geometry') && versions[3].fields.includes('event_type'), 'the first version sets every field');

  assert.deepEqual(unexpected(errors), []);
  assert.ok(!consoleText.some((m) => m.includes(TOKEN)), 'the token is never logged');
  assert.ok(requests.every((r) => !r.url().includes(TOKEN)), 'the token is never in a URL');
  await context.close();
});

test('an incident added by its place name is placed by the server, and a refused token asks to sign in again', async (t) => {
  if (!editable) { t.skip('this server takes no edits'); return; }
  const { context, page, errors } = await openPage(browser, { hash: '#z=9&lat=19.1&lon=-72.6' });
  await signIn(page);
  // A token the server does not know: the form stays, and signing in again resumes it.
  await page.evaluate(() => sessionStorage.setItem('kat.token', 'kat_not_a_real_token'));
  await page.getByRole('button', { name: 'Add incident' }).click();
  await page.getByLabel('Type a place name').check();
  assert.equal(await page.locator('#incident-precision-field').isHidden(), true);
  await page.fill('#incident-location', 'Pont-Sondé');
  await page.fill('#incident-commune', 'Saint-Marc');
  await page.selectOption('#incident-department', 'Artibonite');
  await page.fill('#incident-date', '2026-11-29');
  await page.selectOption('#incident-type', 'massacre');
  await page.fill('#incident-notes', 'synthetic record placed by name');
  await page.getByRole('button', { name: 'Add incident' }).last().click();
  await page.locator('#signin-form').waitFor({ state: 'visible' });
  assert.match(await page.locator('#editor-note').textContent(), /did not take your token/);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('kat.token')), null, 'the refused token is forgotten');
  await page.locator('#edit-token').fill(TOKEN);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.locator('#incident-form').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#incident-location').inputValue(), 'Pont-Sondé', 'what was typed is kept');
  const posted = page.waitForRequest((r) => r.method() === 'POST');
  await page.getByRole('button', { name: 'Add incident' }).last().click();
  const body = JSON.parse((await posted).postData());
  assert.equal(body.geometry, null, 'no point is sent: the server places it');
  const note = await noteText(page, /Added incident (\S+)\./);
  const id = /Added incident (\S+)\./.exec(note)[1];
  const stored = row(id);
  assert.ok(stored.lon !== null, 'the server gave it a point');
  assert.ok([1, 2, 3, 4].includes(stored.properties.geo_precision));
  assert.ok(note.includes(`(geo_precision ${stored.properties.geo_precision})`), `the note says the stored precision: ${note}`);
  assert.ok(note.includes(`${stored.lat.toFixed(5)}, ${stored.lon.toFixed(5)}`), note);

  // The map opens its popup once drawn anew.
  await page.waitForFunction((want) => {
    const e = document.querySelector('.leaflet-popup-content .kat-id');
    return e && e.textContent === `Record ${want}`;
  }, id, { timeout: 15_000 });
  assert.equal(await page.locator('.leaflet-popup-content .kat-edit-actions button').count(), 2, 'Correct and History');

  // Signing out forgets the token; popups then offer History only.
  await page.getByRole('button', { name: 'Sign out' }).click();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('kat.token')), null);
  assert.equal(await page.locator('#edit-signin').isVisible(), true);
  await page.evaluate((fid) => fetch(`/collections/incidents/items/${encodeURIComponent(fid)}`).then((r) => r.json()).then((f) => window.KatMap.openIncident(f)), id);
  const popup = page.locator('.leaflet-popup-content .kat-popup');
  await popup.getByRole('button', { name: 'History' }).waitFor();
  assert.equal(await popup.getByRole('button', { name: 'Correct' }).count(), 0);
  assert.deepEqual(unexpected(errors), []);
  await context.close();
});

test('an admin deletes an incident from its popup and restores it from its history', async (t) => {
  if (!editable) { t.skip('this server takes no edits'); return; }
  // A synthetic record of this test's own, written through the API as any client would.
  const notes = `${RUN}: to be deleted and restored`;
  const created = await fetch(`${BASE}/collections/incidents/items`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/geo+json' },
    body: JSON.stringify({
      type: 'Feature', geometry: { type: 'Point', coordinates: [-72.2851, 18.5162] },
      properties: { event_date: '2026-11-28', event_type: 'arson_looting', notes },
    }),
  });
  assert.equal(created.status, 201, await created.clone().text());
  const feature = await created.json();
  const id = String(feature.id);
  assert.equal(row(id).properties.notes, notes);

  const { context, page, errors } = await openPage(browser, { hash: '#z=14&lat=18.5162&lon=-72.2851' });
  await signIn(page, ADMIN_TOKEN);
  assert.match(await page.locator('#editor-note').textContent(), new RegExp(`Signed in as ${ADMIN} \\(admin\\)`));
  await page.evaluate((f) => window.KatMap.openIncident(f), feature);
  const popup = page.locator('.leaflet-popup-content .kat-popup');
  await popup.getByRole('button', { name: 'Delete' }).waitFor();
  assert.deepEqual(await popup.locator('.kat-edit-actions button').allTextContents(), ['Correct', 'History', 'Delete']);

  // Deleting asks first, names the incident, and sends the ETag it was shown.
  await popup.getByRole('button', { name: 'Delete' }).click();
  await page.waitForFunction((want) => document.getElementById('delete-summary').textContent.includes(want), id);
  assert.match(await page.locator('#delete-summary').textContent(), /Arson or looting, 2026-11-28/);
  const sent = page.waitForRequest((r) => r.method() === 'DELETE');
  await page.getByRole('button', { name: 'Delete incident' }).click();
  assert.equal((await sent).headers()['if-match'], '"r1"');
  await noteText(page, /Deleted incident/);
  assert.equal(row(id), null, 'the row is gone from the table');
  assert.equal((await fetch(`${BASE}/collections/incidents/items/${encodeURIComponent(id)}`)).status, 404);

  // The history stays and lists the deletion first; the version before it can be restored.
  await page.waitForFunction(() => document.querySelectorAll('#history-list > li').length === 2);
  assert.match(await page.locator('#history-list > li').first().textContent(), new RegExp(`deleted by ${ADMIN}`));
  assert.equal(await page.locator('#history-list > li').first().getByRole('button').count(), 0, 'a deletion is not restored');
  await page.getByRole('button', { name: 'Restore revision 1' }).click();
  await noteText(page, /Restored revision 1 of incident/);
  const back = row(id);
  assert.ok(back, 'the row is back');
  assert.equal(back.properties.notes, notes);
  assert.equal(back.revision, 3);
  await page.waitForFunction(() => document.querySelectorAll('#history-list > li').length === 3);
  assert.match(await page.locator('#history-list > li').first().textContent(), new RegExp(`restored by ${ADMIN}`));
  const served = await fetch(`${BASE}/collections/incidents/items/${encodeURIComponent(id)}`);
  assert.equal(served.status, 200);
  assert.equal((await served.json()).properties.notes, notes);
  assert.deepEqual(unexpected(errors), []);
  await context.close();
});
