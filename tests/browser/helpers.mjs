// Shared set-up for Kat's browser tests: a headless Chromium from the system (never a
// downloaded one), every request that is not for the Kat server blocked, and console
// errors collected.
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';

export const BASE = (process.env.KAT_URL || '').replace(/\/+$/, '');
if (!BASE) {
  throw new Error('KAT_URL is not set: start `kat serve` and set KAT_URL=http://127.0.0.1:PORT');
}
/** A server of 100,000 synthetic incidents, where tiles aggregate (unset: those tests skip). */
export const LARGE = (process.env.KAT_LARGE_URL || '').replace(/\/+$/, '');
const LOCAL_HOSTS = new Set([BASE, LARGE].filter(Boolean).map((b) => new URL(b).host));

export const CHROMIUM = process.env.KAT_CHROMIUM || '/usr/bin/chromium';

export const LAUNCH_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * A fresh browser (chromium.launch gives it its own temporary profile). Headless Chromium
 * hides scrollbars; `scrollbars: true` shows them as a desktop browser does, taking width
 * from a scrolling panel.
 */
export function launch({ scrollbars = false } = {}) {
  return chromium.launch({
    executablePath: CHROMIUM, args: LAUNCH_ARGS, timeout: 60_000,
    ignoreDefaultArgs: scrollbars ? ['--hide-scrollbars'] : [],
  });
}

// A 1x1 transparent PNG, served in place of map tiles when a test wants the base map "up".
const PNG_1x1 = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);

/**
 * A page on its own context, on the Kat server `base`. Every request not for a Kat server is
 * aborted, so map tiles fail (tiles: 'block'), unless tiles: 'stub', which answers tile
 * requests with a blank PNG from here. `setup(page)` runs before the page loads. `errors`
 * collects console errors and uncaught exceptions, except the browser's own "Failed to load
 * resource" line for a request this harness aborted.
 */
export async function openPage(browser, { viewport = { width: 1280, height: 800 }, tiles = 'block', hash = '', setup = null, base = BASE } = {}) {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  const aborted = new Set();
  const errors = [];
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (LOCAL_HOSTS.has(url.host) && (url.hostname === '127.0.0.1' || url.hostname === 'localhost')) {
      return route.continue();
    }
    if (tiles === 'stub' && url.hostname === 'tile.openstreetmap.org') {
      return route.fulfill({ status: 200, contentType: 'image/png', body: PNG_1x1 });
    }
    aborted.add(url.href);
    return route.abort();
  });
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const where = msg.location() && msg.location().url;
    if (msg.text().startsWith('Failed to load resource') && where && aborted.has(where)) return;
    errors.push(`console: ${msg.text()} (${where || 'no location'})`);
  });
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  // Routes a test adds before the page loads (page routes win over the context's).
  if (setup) await setup(page);
  const first = page.waitForRequest((r) => isViewItems(r.url()));
  await page.goto(`${base}/${hash}`);
  await first;
  await waitLoaded(page);
  return { context, page, errors, aborted };
}

/** Whether a URL is the page's incidents query for the view (not a nearby query). */
export function isViewItems(href) {
  const u = new URL(href);
  return u.pathname === '/collections/incidents/items' && u.searchParams.has('bbox') && !u.searchParams.has('near');
}

/** Waits until the status line holds a finished count. */
export async function waitLoaded(page) {
  await page.waitForFunction(() => {
    const s = document.querySelector('[role=status]');
    return s && s.getAttribute('aria-busy') === 'false' && /incident/.test(s.textContent);
  }, null, { timeout: 20_000 });
}

/** The number the status line shows ("37 incidents in view" → 37). */
export async function statusCount(page) {
  await waitLoaded(page);
  const text = await page.locator('[role=status]').textContent();
  const m = /([\d,]+) incidents?\b/.exec(text);
  if (!m) throw new Error(`no count in status: ${text}`);
  return Number(m[1].replace(/,/g, ''));
}

/** Runs `action` and returns the first view query the page sends after it, once loaded. */
export async function viewRequestAfter(page, action, predicate = () => true) {
  const req = page.waitForRequest((r) => isViewItems(r.url()) && predicate(new URL(r.url())), { timeout: 15_000 });
  await action();
  const r = await req;
  await waitLoaded(page);
  return new URL(r.url());
}

/** JSON from the Kat server (or `base`), outside the browser. */
export async function api(pathAndQuery, base = BASE) {
  const res = await fetch(base + pathAndQuery, { headers: { Accept: 'application/geo+json, application/json' } });
  if (!res.ok) throw new Error(`${pathAndQuery}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

/** Every feature of an items query, following rel=next links. */
export async function allFeatures(pathAndQuery) {
  let url = pathAndQuery;
  const features = [];
  let numberMatched = null;
  for (let guard = 0; url && guard < 1000; guard++) {
    const body = await api(url);
    if (numberMatched === null) numberMatched = body.numberMatched;
    features.push(...body.features);
    const next = (body.links || []).find((l) => l.rel === 'next');
    url = next ? new URL(next.href, BASE).pathname + new URL(next.href, BASE).search : null;
  }
  return { features, numberMatched };
}

/** The items query a test builds itself from the bbox of the page's query and the filters. */
export function itemsPath(bbox, filters = {}, extra = {}) {
  const p = new URLSearchParams();
  if (bbox) p.set('bbox', bbox);
  for (const [k, v] of Object.entries({ ...filters, ...extra })) {
    if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  }
  return `/collections/incidents/items?${p}`;
}

/** The filter parameters of a query URL (everything but bbox, limit, offset). */
export function filtersOf(url) {
  const out = {};
  for (const [k, v] of url.searchParams) {
    if (!['bbox', 'limit', 'offset'].includes(k)) out[k] = v;
  }
  return out;
}

/**
 * A point (page coordinates) inside the map where a click reaches the map itself or a
 * vector shape, not a marker, cluster, control or panel.
 */
export async function emptyMapPoint(page) {
  const pt = await page.evaluate(() => {
    const map = document.getElementById('map');
    const r = map.getBoundingClientRect();
    const ok = (x, y) => {
      const e = document.elementFromPoint(x, y);
      if (!e || !map.contains(e)) return false;
      if (e.closest('.leaflet-marker-icon, .leaflet-control, .leaflet-popup, .marker-cluster')) return false;
      // Not next to a marker either: keep 30 px away from every icon.
      for (const m of map.querySelectorAll('.leaflet-marker-icon')) {
        const b = m.getBoundingClientRect();
        if (x > b.left - 30 && x < b.right + 30 && y > b.top - 30 && y < b.bottom + 30) return false;
      }
      return true;
    };
    const cx = r.left + r.width / 2, cy = r.top + r.height / 2;
    for (let ring = 0; ring < 12; ring++) {
      for (let k = 0; k < 16; k++) {
        const a = (k / 16) * 2 * Math.PI;
        const x = cx + Math.cos(a) * ring * 18, y = cy + Math.sin(a) * ring * 18;
        if (ok(x, y)) return { x, y };
      }
    }
    return null;
  });
  if (!pt) throw new Error('no free point on the map to click');
  return pt;
}

/** The centre of the first element matching `selector` that a click would actually hit. */
export async function clickablePoint(page, selector) {
  const pt = await page.evaluate((sel) => {
    for (const e of document.querySelectorAll(sel)) {
      const b = e.getBoundingClientRect();
      if (b.width < 4 || b.height < 4) continue;
      for (const [fx, fy] of [[0.5, 0.5], [0.4, 0.4], [0.6, 0.6], [0.4, 0.6], [0.6, 0.4], [0.5, 0.3], [0.5, 0.7]]) {
        const x = b.left + b.width * fx, y = b.top + b.height * fy;
        if (x < 0 || y < 0 || x > innerWidth || y > innerHeight) continue;
        if (document.elementFromPoint(x, y) === e) return { x, y };
      }
    }
    return null;
  }, selector);
  if (!pt) throw new Error(`nothing to click for ${selector}`);
  return pt;
}

export function readJSON(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

export function idSet(features) {
  return new Set(features.map((f) => String(f.id)));
}

export function sorted(set) {
  return [...set].sort();
}

function isoWeek(day) {
  const d = new Date(`${day}T00:00:00Z`);
  const thursday = new Date(d.getTime() + (3 - ((d.getUTCDay() + 6) % 7)) * 86400000);
  const year = thursday.getUTCFullYear();
  const jan4 = new Date(Date.UTC(year, 0, 4));
  const week1 = new Date(jan4.getTime() - ((jan4.getUTCDay() + 6) % 7) * 86400000);
  const w = 1 + Math.round((thursday - week1 - 3 * 86400000) / (7 * 86400000));
  return `${year}-W${String(w).padStart(2, '0')}`;
}

/** The period of a day, as /aggregate names it. */
export function periodOf(day, interval) {
  if (interval === 'day') return day;
  if (interval === 'week') return isoWeek(day);
  if (interval === 'month') return day.slice(0, 7);
  return day.slice(0, 4);
}

/**
 * /aggregate computed by brute force here: every feature of the items query with the same
 * filters, grouped and counted one by one.
 */
export async function bruteAggregate(search) {
  const q = new URLSearchParams(search);
  const groupby = (q.get('groupby') || '').split(',').filter(Boolean);
  const interval = q.get('interval');
  q.delete('groupby');
  q.delete('interval');
  q.set('limit', '10000');
  const { features, numberMatched } = await allFeatures(`/collections/incidents/items?${q}`);
  const groups = new Map();
  for (const f of features) {
    const p = f.properties;
    const g = {};
    for (const k of groupby) g[k] = p[k] ?? null;
    if (interval) g.period = periodOf(p.event_date, interval);
    const key = JSON.stringify(g);
    const acc = groups.get(key) || { ...g, count: 0, sum_fatalities: 0 };
    acc.count += 1;
    acc.sum_fatalities += typeof p.fatalities === 'number' ? p.fatalities : 0;
    groups.set(key, acc);
  }
  return { numberMatched, groups: [...groups.values()] };
}

/** The map's centre and zoom from the page's permalink. */
export async function mapView(page) {
  const h = new URLSearchParams((await page.evaluate(() => location.hash)).replace(/^#/, ''));
  return { z: Number(h.get('z')), lat: Number(h.get('lat')), lon: Number(h.get('lon')) };
}

/** Great-circle distance in metres (a sphere is close enough for a test's tolerance). */
export function metres([lon1, lat1], [lon2, lat2]) {
  const r = Math.PI / 180;
  const a = Math.sin(((lat2 - lat1) * r) / 2) ** 2 +
    Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.sin(((lon2 - lon1) * r) / 2) ** 2;
  return 2 * 6371008.8 * Math.asin(Math.sqrt(a));
}
