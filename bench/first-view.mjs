// The web map's first full view, timed in Debian's Chromium: from navigation until the status
// line holds its count and every incident tile in view is drawn, with the bytes the page
// transferred (compressed, as on the wire; the base map is blocked, as offline).
//
//   node bench/first-view.mjs http://127.0.0.1:8080 [runs]
//
// Each run is a fresh browser context (an empty cache). The first run also meets the server's
// rendered-tile cache empty when the server has just started. Prints one JSON line per run
// and a summary line with the medians.
import { chromium } from 'playwright-core';

const base = (process.argv[2] || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const runs = Number(process.argv[3] || 5);
const host = new URL(base).host;

const browser = await chromium.launch({
  executablePath: process.env.KAT_CHROMIUM || '/usr/bin/chromium',
  args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const results = [];
for (let i = 0; i < runs; i++) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  await context.route('**/*', (route) => (new URL(route.request().url()).host === host ? route.continue() : route.abort()));
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  let bytes = 0;
  let requests = 0;
  cdp.on('Network.loadingFinished', (e) => { bytes += e.encodedDataLength; requests += 1; });
  const started = Date.now();
  await page.goto(`${base}/`);
  await page.waitForFunction(() => {
    const s = document.querySelector('[role=status]');
    if (!s || s.getAttribute('aria-busy') !== 'false' || !/incident/.test(s.textContent)) return false;
    const tiles = document.querySelectorAll('.kat-incident-tiles .kat-tile');
    return [...tiles].every((t) => t.hasAttribute('data-count') || t.hasAttribute('data-error'));
  }, null, { timeout: 60_000, polling: 20 });
  const ms = Date.now() - started;
  const status = (await page.locator('[role=status]').textContent()).trim();
  const tiles = await page.locator('.kat-incident-tiles .kat-tile').count();
  // Requests still finishing after the view completed (the chart, counts by place) count too.
  await page.waitForTimeout(1500);
  const r = { run: i + 1, complete_ms: ms, transferred_kb: Math.round(bytes / 1024), requests, tiles, status };
  console.log(JSON.stringify(r));
  results.push(r);
  await context.close();
}
await browser.close();
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
console.log(JSON.stringify({
  summary: base,
  first_complete_ms: results[0].complete_ms,
  median_complete_ms: median(results.map((r) => r.complete_ms)),
  median_transferred_kb: median(results.map((r) => r.transferred_kb)),
}));
