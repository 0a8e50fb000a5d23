// Takes the README's screenshots of the Kat map against a running server:
//   KAT_URL=http://127.0.0.1:8080 node scripts/screenshots.mjs
// writes docs/screenshot-desktop.png (1400x900) and docs/screenshot-phone.png (375x812).
// Requests that do not go to the Kat server are blocked (so no base map tiles: the page
// shows its offline notice), and the system Chromium is used.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const base = (process.env.KAT_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'docs');
mkdirSync(out, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.KAT_CHROMIUM || '/usr/bin/chromium',
  args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

const host = new URL(base).host;

async function shot(name, viewport, hash) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  await context.route('**/*', (route) => (new URL(route.request().url()).host === host ? route.continue() : route.abort()));
  const page = await context.newPage();
  await page.goto(`${base}/${hash}`);
  await page.waitForFunction(() => {
    const s = document.querySelector('[role=status]');
    return s && s.getAttribute('aria-busy') === 'false' && /incident/.test(s.textContent);
  }, null, { timeout: 30_000 });
  await page.waitForSelector('path.kat-dept');
  await page.locator('#tile-notice').waitFor({ state: 'visible', timeout: 15_000 }).catch(() => {});
  await page.waitForSelector('path.kat-choro[data-count]', { timeout: 15_000 }).catch(() => {});
  await page.waitForSelector('#chart rect.chart-bar', { timeout: 15_000 }).catch(() => {});
  await page.waitForTimeout(800);
  const file = join(out, name);
  await page.screenshot({ path: file });
  await context.close();
  console.log(`wrote ${file}`);
}

try {
  await shot('screenshot-desktop.png', { width: 1400, height: 900 }, '#z=8&lat=18.95&lon=-72.75&by=department');
  await shot('screenshot-phone.png', { width: 375, height: 812 }, '#z=8&lat=18.85&lon=-72.6&by=department');
} finally {
  await browser.close();
}
