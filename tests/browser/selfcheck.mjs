// Self-check of lib.mjs, needing no Passerelle node: a throwaway HTTPS server
// (fresh self-signed certificate) serves pages under the console's exact CSP,
// and each helper is exercised against them. Run: `node selfcheck.mjs`.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { launchBrowser, newPage, checkA11y, screenshot, expectNoErrors, step } from './lib.mjs';

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const html = (title, body) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title><link rel="stylesheet" href="/style.css">
<link rel="icon" href="data:,"></head>
<body><main>${body}</main></body></html>`;

const DOT = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

const routes = {
  '/': ['text/html', html('Good page', `<h1>Passerelle self-check</h1>
    <p id="status">script not run</p><p id="lang"></p>
    <button type="button" id="btn">Press</button><script src="/app.js"></script>`)],
  '/bad': ['text/html', html('Bad page', `<h1>Bad page</h1><img src="${DOT}" width="40" height="40">`)],
  '/inline': ['text/html', html('Inline script', `<h1>Inline</h1><script>document.title = 'inline ran'</script>`)],
  '/style.css': ['text/css', 'body{font:16px sans-serif;margin:2rem;color:#111;background:#fff}' +
    'button{transition:background 5s}button:hover{background:#ddd}'],
  '/app.js': ['text/javascript', `
    document.getElementById('status').textContent = 'script ran';
    document.body.dataset.ready = '1';
    fetch('/echo').then(r => r.json()).then(j => {
      document.getElementById('lang').textContent = j['accept-language'];
      document.body.dataset.fetched = '1';
    });`],
};

function startServer(dir) {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-nodes', '-subj', '/CN=localhost', '-days', '1',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  const server = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
    (req, res) => {
      const path = new URL(req.url, 'https://x').pathname;
      const headers = { 'Content-Security-Policy': CSP, 'Cache-Control': 'no-store' };
      if (path === '/echo') {
        res.writeHead(200, { ...headers, 'Content-Type': 'application/json' });
        return res.end(JSON.stringify({ 'accept-language': req.headers['accept-language'], cookie: req.headers.cookie }));
      }
      if (path === '/login') {
        res.writeHead(303, { ...headers, Location: '/',
          'Set-Cookie': '__Host-session=s3cret; Path=/; Secure; HttpOnly; SameSite=Strict' });
        return res.end();
      }
      const route = routes[path];
      if (!route) { res.writeHead(404, headers); return res.end(); }
      res.writeHead(200, { ...headers, 'Content-Type': `${route[0]}; charset=utf-8` });
      res.end(route[1]);
    });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const t0 = performance.now();
const dir = mkdtempSync(join(tmpdir(), 'passerelle-selfcheck-'));
let server, browser;
try {
  server = await step('start HTTPS server with a fresh self-signed cert', () => startServer(dir));
  const base = `https://127.0.0.1:${server.address().port}`;
  browser = await step('launch chromium', launchBrowser);

  const page = await newPage(browser, { locale: 'fr-FR' });
  await step('good page loads under the strict CSP and its self script runs', async () => {
    const resp = await page.goto(base + '/');
    assert.equal(resp.headers()['content-security-policy'], CSP);
    await page.waitForSelector('body[data-fetched="1"]');
    assert.equal(await page.textContent('#status'), 'script ran');
  });
  await step('locale fr-FR sets Accept-Language, navigator.language; timezone Africa/Lagos', async () => {
    assert.equal(await page.textContent('#lang'), 'fr-FR');
    const nav = await page.evaluate(() => [navigator.language, Intl.DateTimeFormat().resolvedOptions().timeZone]);
    assert.deepEqual(nav, ['fr-FR', 'Africa/Lagos']);
  });
  await step('checkA11y passes on the good page (axe injected despite CSP)', async () => {
    const t = performance.now();
    const minor = await checkA11y(page, 'good page');
    console.log(`#   axe inject+run: ${Math.round(performance.now() - t)} ms, ${minor.length} minor violation(s)`);
  });
  await step('deterministic screenshot', async () => {
    await page.hover('#btn');
    const a = await screenshot(page, join(dir, 'good.png'));
    const b = await screenshot(page, join(dir, 'good2.png'));
    assert.deepEqual(readFileSync(join(dir, 'good.png')).subarray(1, 4).toString(), 'PNG');
    assert.ok(a.equals(b), 'two screenshots in a row differ');
    console.log(`#   ${join(dir, 'good.png')}: ${a.length} bytes`);
  });
  await step('no console errors or CSP violations on the good page', () => expectNoErrors(page, 'good page'));

  await step('checkA11y fails on the bad page (img without alt)', async () => {
    await page.goto(base + '/bad');
    await assert.rejects(checkA11y(page, 'bad page'), (e) => {
      assert.match(e.message, /accessibility violations on bad page:\n {2}image-alt \[critical\] .*: img/);
      console.log(e.message.replace(/^/gm, '#   '));
      return true;
    });
  });

  await step('an inline script is blocked by CSP and recorded in page.__errors', async () => {
    const p = await newPage(browser, { viewport: { width: 360, height: 740 } });
    await p.goto(base + '/inline');
    assert.equal(await p.title(), 'Inline script');
    assert.deepEqual(await p.evaluate(() => [innerWidth, innerHeight]), [360, 740]);
    await p.waitForTimeout(100); // console events may trail the load
    assert.equal(p.__errors.length, 1, p.__errors.join('\n'));
    assert.match(p.__errors[0], /Content Security Policy/);
    assert.throws(() => expectNoErrors(p), /1 browser error/);
    await p.context().close();
  });

  await step('Secure __Host- cookie is stored and sent over HTTPS with ignoreHTTPSErrors', async () => {
    const p = await newPage(browser);
    await p.goto(base + '/login');
    const cookies = await p.context().cookies();
    assert.equal(cookies.length, 1);
    assert.equal(cookies[0].name, '__Host-session');
    assert.ok(cookies[0].secure && cookies[0].httpOnly);
    const echo = await p.evaluate(() => fetch('/echo').then((r) => r.json()));
    assert.equal(echo.cookie, '__Host-session=s3cret');
    assert.equal(echo['accept-language'], 'en-GB');
    expectNoErrors(p);
    await p.context().close();
  });
  console.log(`# selfcheck passed in ${Math.round(performance.now() - t0)} ms`);
} catch {
  process.exitCode = 1;
} finally {
  await browser?.close();
  server?.close();
  if (!process.env.KEEP_SELFCHECK_DIR) rmSync(dir, { recursive: true, force: true });
  else console.log(`# kept ${dir}`);
}
