// The time chart and the choropleth: their numbers are /aggregate's for the filters, and
// both agree with a count over every incident; brushing the chart sets the dates the next
// request asks for; Play steps through the months.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  launch, openPage, api, allFeatures, isViewItems, viewRequestAfter, bruteAggregate, periodOf,
} from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

let everything;
/** Every incident, once. */
async function allIncidents() {
  everything ??= (await allFeatures('/collections/incidents/items?limit=1000')).features;
  return everything;
}

/** The bars of the chart, as the page drew them. */
async function bars(page) {
  await page.locator('#chart rect.chart-bar').first().waitFor({ timeout: 15_000 });
  return page.locator('#chart rect.chart-bar').evaluateAll((rs) => rs.map((r) => ({
    period: r.getAttribute('data-period'), count: Number(r.getAttribute('data-count')),
  })));
}

test('"Incidents over time" shows the count of every month, and of every week', async () => {
  const { context, page, errors } = await openPage(browser);
  assert.equal(await page.getByRole('heading', { name: 'Incidents over time' }).count(), 1);
  const byMonth = new Map();
  for (const f of await allIncidents()) {
    const m = periodOf(f.properties.event_date, 'month');
    byMonth.set(m, (byMonth.get(m) || 0) + 1);
  }
  const drawn = await bars(page);
  const nonZero = drawn.filter((b) => b.count > 0);
  assert.deepEqual(Object.fromEntries(nonZero.map((b) => [b.period, b.count])), Object.fromEntries([...byMonth].sort()));
  // Gaps are drawn as empty months, in order.
  assert.deepEqual(drawn.map((b) => b.period), [...drawn.map((b) => b.period)].sort());
  assert.equal(drawn.reduce((s, b) => s + b.count, 0), (await allIncidents()).length);

  // By week: the same incidents, in ISO weeks, and /aggregate agrees.
  await page.selectOption('#chart-interval', 'week');
  await page.waitForFunction(() => [...document.querySelectorAll('#chart rect.chart-bar')].some((r) => /W\d\d$/.test(r.getAttribute('data-period'))));
  const weeks = (await bars(page)).filter((b) => b.count > 0);
  const agg = await bruteAggregate('?interval=week');
  assert.deepEqual(Object.fromEntries(weeks.map((b) => [b.period, b.count])),
    Object.fromEntries(agg.groups.map((g) => [g.period, g.count]).sort()));
  // Readable at phone width: the chart fits the panel.
  assert.deepEqual(errors, []);
  await context.close();

  const phone = await openPage(browser, { viewport: { width: 375, height: 812 } });
  await phone.page.getByRole('button', { name: 'Filters', exact: true }).click();
  await bars(phone.page);
  const box = await phone.page.locator('#chart svg').boundingBox();
  assert.ok(box.x >= 0 && box.x + box.width <= 375 && box.width >= 300, `chart ${box.width} px wide at ${box.x}`);
  assert.deepEqual(phone.errors, []);
  await phone.context.close();
});

test('brushing the chart narrows the datetime of the next request', async () => {
  const { context, page, errors } = await openPage(browser);
  const drawn = await bars(page);
  const svgBox = await page.locator('#chart svg').boundingBox();
  const rects = await page.locator('#chart rect.chart-bar').evaluateAll((rs) => rs.map((r) => {
    const b = r.getBoundingClientRect();
    return { x: b.left + b.width / 2, period: r.getAttribute('data-period') };
  }));
  const a = rects[Math.floor(rects.length / 3)], b = rects[Math.floor((2 * rects.length) / 3)];
  const y = svgBox.y + svgBox.height / 2;
  const url = await viewRequestAfter(page, async () => {
    await page.mouse.move(a.x, y);
    await page.mouse.down();
    await page.mouse.move((a.x + b.x) / 2, y, { steps: 4 });
    await page.mouse.move(b.x, y, { steps: 4 });
    await page.mouse.up();
  }, (u) => u.searchParams.has('datetime'));
  const [from, to] = url.searchParams.get('datetime').split('/');
  assert.equal(from, `${a.period}-01`, 'from the first day of the first month brushed');
  assert.equal(to.slice(0, 7), b.period, 'to the last month brushed');
  assert.equal(new Date(`${to}T00:00:00Z`).getUTCDate(), new Date(Date.UTC(Number(b.period.slice(0, 4)), Number(b.period.slice(5, 7)), 0)).getUTCDate());
  assert.equal(await page.inputValue('#from'), from);
  assert.equal(await page.inputValue('#to'), to);
  // The count is the API's for those dates.
  const expected = (await api(`/collections/incidents/items?bbox=${url.searchParams.get('bbox')}&datetime=${from}/${to}&limit=1`)).numberMatched;
  assert.match(await page.locator('[role=status]').textContent(), new RegExp(`^${expected} incidents? in view`));
  assert.ok(drawn.length > 3);
  assert.deepEqual(errors, []);
  await context.close();
});

test('Play steps through the months one by one', async () => {
  const { context, page, errors } = await openPage(browser);
  const drawn = await bars(page);
  const months = [];
  page.on('request', (r) => {
    if (!isViewItems(r.url())) return;
    const dt = new URL(r.url()).searchParams.get('datetime');
    if (dt) months.push(dt);
  });
  await page.getByRole('button', { name: 'Play' }).click();
  assert.equal(await page.locator('#chart-play').getAttribute('aria-pressed'), 'true');
  await page.waitForFunction(() => document.getElementById('from').value.slice(0, 7) > '' && document.getElementById('chart-play').textContent === 'Pause');
  await page.waitForTimeout(3600);
  await page.locator('#chart-play').click();
  assert.equal(await page.locator('#chart-play').getAttribute('aria-pressed'), 'false');
  assert.ok(months.length >= 2, `several months asked for: ${months.join(' ')}`);
  const first = drawn[0].period;
  assert.equal(months[0].slice(0, 7), first, 'starts at the first month of the chart');
  for (let i = 0; i < months.length; i++) {
    const [f, t] = months[i].split('/');
    assert.equal(f.slice(8), '01');
    assert.equal(f.slice(0, 7), t.slice(0, 7), 'one month at a time');
    if (i) assert.ok(f > months[i - 1].split('/')[0], 'forward in time');
  }
  assert.deepEqual(errors, []);
  await context.close();
});

/** The numbers the choropleth shows, read from its shapes. */
async function shaded(page) {
  await page.locator('path.kat-choro[data-count]').first().waitFor({ timeout: 15_000 });
  return page.locator('path.kat-choro').evaluateAll((ps) => Object.fromEntries(ps.map((p) => [
    p.getAttribute('data-name'), { count: Number(p.getAttribute('data-count')), fat: Number(p.getAttribute('data-sum-fatalities')) },
  ])));
}

function bruteByUnit(features, unit) {
  const out = {};
  for (const f of features) {
    const k = f.properties[unit];
    if (!k) continue;
    out[k] ??= { count: 0, fat: 0 };
    out[k].count += 1;
    out[k].fat += typeof f.properties.fatalities === 'number' ? f.properties.fatalities : 0;
  }
  return out;
}

test('the choropleth by department and by commune shows /aggregate\'s numbers for the filters', async () => {
  const { context, page, errors } = await openPage(browser);
  await page.selectOption('#choropleth-unit', 'department');
  let drawn = await shaded(page);
  assert.equal(Object.keys(drawn).length, 10);
  const agg = await bruteAggregate('?groupby=department');
  const real = await (async () => { try { return await api('/collections/incidents/aggregate?groupby=department'); } catch { return agg; } })();
  for (const g of real.groups) {
    assert.deepEqual(drawn[g.department], { count: g.count, fat: g.sum_fatalities }, g.department);
  }
  const brute = bruteByUnit(await allIncidents(), 'department');
  for (const [name, n] of Object.entries(drawn)) assert.deepEqual(n, brute[name] || { count: 0, fat: 0 }, name);
  // The legend and the hover text.
  assert.match(await page.locator('#choropleth-legend').textContent(), /Incidents by department/);
  // Hover over a bit of Ouest that no marker or armed-group area covers.
  const pt = await page.evaluate(() => {
    const path = document.querySelector('path.kat-choro[data-name="Ouest"]');
    const b = path.getBoundingClientRect();
    for (let i = 1; i < 20; i++) {
      for (let j = 1; j < 20; j++) {
        const x = b.left + (b.width * i) / 20, y = b.top + (b.height * j) / 20;
        if (document.elementFromPoint(x, y) === path) return { x, y };
      }
    }
    return null;
  });
  assert.ok(pt, 'some of Ouest is uncovered');
  await page.mouse.move(pt.x, pt.y);
  await page.locator('.leaflet-tooltip').first().waitFor({ timeout: 5000 });
  const tip = await page.locator('.leaflet-tooltip').allTextContents();
  assert.ok(tip.some((t) => t.includes(`${brute.Ouest.count} incidents`) && t.includes(`${brute.Ouest.fat} fatalities`)), tip.join(' | '));

  // Filters apply: massacres in 2024, by commune, shaded by fatalities.
  await page.selectOption('#event-type', 'massacre');
  await page.fill('#from', '2024-01-01');
  await page.fill('#to', '2024-12-31');
  await page.selectOption('#choropleth-measure', 'fatalities');
  await page.selectOption('#choropleth-unit', 'commune');
  await page.waitForFunction(() => document.querySelectorAll('path.kat-choro[data-unit=commune]').length === 140);
  await page.waitForTimeout(1000);
  drawn = await shaded(page);
  const chosen = (await allIncidents()).filter((f) => f.properties.event_type === 'massacre' &&
    f.properties.event_date >= '2024-01-01' && f.properties.event_date <= '2024-12-31');
  const byCommune = bruteByUnit(chosen, 'commune');
  assert.ok(Object.keys(byCommune).length >= 2);
  for (const [name, n] of Object.entries(byCommune)) assert.deepEqual(drawn[name], n, name);
  const shown = Object.values(drawn).reduce((s, n) => s + n.count, 0);
  assert.equal(shown, chosen.filter((f) => f.properties.commune).length);
  assert.match(await page.locator('#choropleth-legend').textContent(), /Fatalities by commune/);
  assert.match(await page.evaluate(() => location.hash), /by=commune/);
  assert.deepEqual(errors, []);
  await context.close();
});
