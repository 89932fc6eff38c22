// What the console's scenarios share: signing in as a test user, recording
// every API exchange the console makes (the Rust side checks them against
// the spec), reading the nodes' states through the API, and asking the
// test process for what only it can do (move a node's clock).

import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { request } from 'playwright-core';
import { config, newPage } from './lib.mjs';

const exchanges = [];
const reading = [];

/** Records the page's API exchanges. */
export function record(page) {
  page.on('response', (res) => {
    const url = res.url();
    if (!url.includes('/api/v1/')) return;
    const req = res.request();
    // A body is lost when its page closes first: such an exchange is left out.
    reading.push(res.text().then((body) => exchanges.push({
      method: req.method(),
      url,
      request_type: req.headers()['content-type'] || null,
      request_body: req.postData(),
      status: res.status(),
      response_type: res.headers()['content-type'] || null,
      response_body: body,
    }), () => {}));
  });
}

/** The API exchanges seen so far (for a scenario's own checks). */
export async function seen() {
  await Promise.all(reading);
  return exchanges;
}

let lines;
const waiting = [];

/** Asks the Rust test for something (e.g. {ask: 'advance_clock', node, minutes}). */
export function ask(what) {
  if (!lines) {
    lines = createInterface({ input: process.stdin });
    lines.on('line', (l) => waiting.shift()?.(JSON.parse(l)));
  }
  return new Promise((resolve) => {
    waiting.push(resolve);
    console.log(`@@ask ${JSON.stringify(what)}`);
  });
}

/** Writes the recorded exchanges for the Rust side and lets the process end. */
export async function finish(browser) {
  await Promise.all(reading);
  writeFileSync(config().exchanges, JSON.stringify(exchanges));
  lines?.close();
  await browser?.close();
}

export function node(name) {
  return config().nodes[name];
}

/** A new page of `name`'s console, signed in as the test user of `role`. */
export async function signIn(browser, name, role, opts = {}) {
  const n = node(name);
  const page = await newPage(browser, opts);
  record(page);
  await page.goto(`${n.url}/`);
  await page.fill('input[name=username]', n.users[role].username);
  await page.fill('input[name=password]', n.users[role].password);
  await page.click('form.signin button[type=submit]');
  await page.waitForSelector('#app[data-ready]');
  if (opts.lang) await useLanguage(page, opts.lang);
  return page;
}

/** Switches the console to `lang` with its button if it is in the other one (the choice is remembered per user). */
export async function useLanguage(page, lang) {
  if (await page.evaluate(() => document.documentElement.lang) !== lang) {
    await page.click('header.top button.lang');
    await page.waitForFunction((l) => document.documentElement.lang === l && document.getElementById('app')?.dataset.ready, lang);
  }
}

/** Goes to a screen of the console (`cases`, `review/exchange`...) and waits until it is shown. */
export async function open(page, path) {
  await page.goto(`${page.url().split('#')[0]}#/${path}`);
  await shown(page, path);
}

/** Waits until the console shows the screen at `path`. */
export async function shown(page, path) {
  await page.waitForFunction((p) => document.getElementById('app')?.dataset.ready === p, path);
  await page.evaluate(() => document.fonts.ready);
}

/** Runs `fn`, then waits until the case page has drawn itself again (it counts its loads in `data-loads`). */
export async function andReload(page, fn, timeout = 10000) {
  const before = Number(await page.locator('.case-page').getAttribute('data-loads'));
  await fn();
  try {
    await page.waitForFunction((n) => Number(document.querySelector('.case-page')?.dataset.loads) > n, before, { timeout });
  } catch (e) {
    const shown = await page.locator('.error:visible, .field-error:visible').allTextContents();
    throw new Error(`the page did not reload; it shows: ${shown.join(' | ')}`);
  }
}

/** Browser errors other than the API refusals the console handles itself. */
export function unexpectedErrors(page) {
  return page.__errors.filter((e) => !/Failed to load resource: the server responded with a status of 4\d\d .*\/api\/v1\//.test(e));
}

export function expectClean(page, label) {
  const errors = unexpectedErrors(page);
  if (errors.length) throw new Error(`browser errors on ${label}:\n  ${errors.join('\n  ')}`);
}

const apis = new Map();

/** An API client of `name` as the test user of `role` (bearer token). */
export async function api(name, role = 'supervisor') {
  const key = `${name}/${role}`;
  if (!apis.has(key)) {
    const n = node(name);
    apis.set(key, await request.newContext({
      baseURL: n.url,
      ignoreHTTPSErrors: true,
      extraHTTPHeaders: { Authorization: `Bearer ${n.users[role].token}` },
    }));
  }
  return apis.get(key);
}

/** The case with this reference on a node, as its supervisor sees it. */
export async function caseByReference(name, reference) {
  const res = await (await api(name)).get(`/api/v1/cases?reference=${encodeURIComponent(reference)}`);
  if (!res.ok()) throw new Error(`${name}: GET /cases ${res.status()}`);
  const found = (await res.json()).items[0];
  if (!found) return null;
  const one = await (await api(name)).get(`/api/v1/cases/${found.id}`);
  if (!one.ok()) throw new Error(`${name}: GET /cases/{id} ${one.status()}`);
  return one.json();
}

/** Waits until `check()` returns something truthy (the link between nodes is asynchronous). */
export async function eventually(what, check, timeoutMs = 20000) {
  const until = Date.now() + timeoutMs;
  let last;
  while (Date.now() < until) {
    try { last = await check(); if (last) return last; } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

/** Waits until both nodes (or those named) hold the case in `state`. */
export async function bothIn(reference, state, names = Object.keys(config().nodes)) {
  for (const name of names) {
    await eventually(`${name}: ${reference} ${state}`, async () => (await caseByReference(name, reference))?.state === state);
  }
}

/** Chooses the first real option of a select. */
export async function selectFirst(scope, selector) {
  const el = scope.locator(selector).first();
  const value = await el.evaluate((s) => [...s.options].find((o) => o.value)?.value);
  await el.selectOption(value);
  return value;
}
