// Browser-test toolbox for Passerelle's web console.
//
// Scenario scripts (ES modules next to this file) import these helpers; Rust
// integration tests spawn the nodes, write a JSON config file, and run
// `node <scenario>.mjs` with PASSERELLE_BROWSER_CONFIG pointing at it.
//
// Machine requirements: Debian's Chromium (`apt-get install -y chromium
// chromium-driver`, giving /usr/bin/chromium) and `npm ci` in this folder.
// Playwright cannot download its own browsers here; we always drive the
// system one.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);

/** Path of the browser binary; override with CHROMIUM_PATH if needed. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/**
 * Flags for this machine: root needs --no-sandbox; the network is closed, so
 * everything that phones home is switched off (otherwise Chromium keeps
 * opening connections that get refused).
 */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Launch headless Chromium (a fresh temporary profile, deleted on close).
 * Close it with `await browser.close()`, ideally in a `finally`.
 * @returns {Promise<import('playwright-core').Browser>}
 */
export async function launchBrowser() {
  try {
    return await chromium.launch({
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: CHROMIUM_ARGS,
    });
  } catch (e) {
    e.message = `could not launch ${CHROMIUM_PATH} (install it with ` +
      `'apt-get install -y chromium chromium-driver'): ${e.message}`;
    throw e;
  }
}

/**
 * Open a page in a new, isolated browser context (own cookies and storage).
 *
 * - ignoreHTTPSErrors: the nodes use self-signed dev certificates. Pages are
 *   still https:, so Secure cookies and secure-context APIs behave as in prod.
 * - locale: sets both navigator.language and the Accept-Language header
 *   (sent verbatim, e.g. "fr-FR", with no q-list fallback).
 * - timezone Africa/Lagos, light colour scheme, reduced motion: deterministic.
 * - viewport: 1280x800 by default; e.g. {width: 360, height: 740} for a phone.
 *
 * Every console error, uncaught page exception and CSP violation is pushed as
 * a string onto `page.__errors`; assert it is empty with `expectNoErrors`.
 *
 * @param {import('playwright-core').Browser} browser
 * @param {{locale?: string, viewport?: {width: number, height: number}}} [opts]
 * @returns {Promise<import('playwright-core').Page>}
 */
export async function newPage(browser, { locale = 'en-GB', viewport } = {}) {
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    locale,
    timezoneId: 'Africa/Lagos',
    viewport: viewport ?? { width: 1280, height: 800 },
    colorScheme: 'light',
    reducedMotion: 'reduce',
  });
  const page = await context.newPage();
  const errors = [];
  page.__errors = errors;
  // Chromium reports CSP violations ("Refused to load/execute ...") as
  // console errors, so this listener also catches them.
  page.on('console', (msg) => {
    if (msg.type() === 'error') {
      const loc = msg.location();
      errors.push(`console.error: ${msg.text()}` + (loc?.url ? ` (${loc.url}:${loc.lineNumber})` : ''));
    }
  });
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.stack || err.message}`));
  page.on('crash', () => errors.push('page crashed'));
  return page;
}

/** Throw if anything was recorded in `page.__errors` (see `newPage`). */
export function expectNoErrors(page, label = page.url()) {
  if (page.__errors.length) {
    throw new Error(`${page.__errors.length} browser error(s) on ${label}:\n  ` + page.__errors.join('\n  '));
  }
}

let axeSource;

/**
 * Run axe-core (WCAG 2 A and AA rules) on the current page.
 *
 * The axe source is evaluated through the DevTools protocol (page.evaluate),
 * which the page's Content-Security-Policy does not block, so the console is
 * tested with its real, strict CSP (no bypassCSP). Injecting it as a <script>
 * tag would be refused by `script-src 'self'`.
 *
 * Throws if there are 'serious' or 'critical' violations, listing rule id,
 * impact, help text and the first offending selectors. Otherwise returns all
 * violations (minor/moderate ones included) for the caller to inspect.
 *
 * @param {import('playwright-core').Page} page
 * @param {string} label what is being checked, for the error message
 */
export async function checkA11y(page, label = page.url()) {
  axeSource ??= readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
    await page.evaluate(axeSource);
  }
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] },
      resultTypes: ['violations'],
    });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      targets: v.nodes.map((n) => n.target.join(' ')),
    }));
  });
  const blocking = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  if (blocking.length) {
    const lines = blocking.map((v) =>
      `  ${v.id} [${v.impact}] ${v.help}: ${v.targets.slice(0, 3).join(', ')}` +
      (v.targets.length > 3 ? ` (+${v.targets.length - 3} more)` : ''));
    throw new Error(`accessibility violations on ${label}:\n${lines.join('\n')}`);
  }
  return violations;
}

/**
 * Save a deterministic full-page PNG: CSS animations/transitions finished,
 * text caret hidden, CSS-pixel scale. Extra Playwright screenshot options may
 * be passed (e.g. {fullPage: false} or {mask: [locator]}).
 */
export async function screenshot(page, path, opts = {}) {
  return page.screenshot({
    path,
    type: 'png',
    fullPage: true,
    animations: 'disabled',
    caret: 'hide',
    scale: 'css',
    ...opts,
  });
}

let cachedConfig;

/**
 * The JSON config written by the Rust test: the file named by the env var
 * PASSERELLE_BROWSER_CONFIG (its shape is defined by the Rust side).
 */
export function config() {
  if (cachedConfig) return cachedConfig;
  const path = process.env.PASSERELLE_BROWSER_CONFIG;
  if (!path) throw new Error('PASSERELLE_BROWSER_CONFIG is not set (path to a JSON config file)');
  cachedConfig = JSON.parse(readFileSync(path, 'utf8'));
  return cachedConfig;
}

/**
 * Run one named async step of a scenario and print a TAP-like line,
 * `ok - name (N ms)` or `not ok - name` followed by the error as `#` lines,
 * then rethrow, so a Rust test's captured output shows where it failed.
 * Returns what `fn` returned.
 */
export async function step(name, fn) {
  const t0 = performance.now();
  try {
    const value = await fn();
    console.log(`ok - ${name} (${Math.round(performance.now() - t0)} ms)`);
    return value;
  } catch (e) {
    console.log(`not ok - ${name}`);
    console.log(String(e?.stack || e).replace(/^/gm, '#   '));
    throw e;
  }
}
