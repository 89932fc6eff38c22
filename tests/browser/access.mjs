// Who may do what, in the console: sign-in failures slow a username down
// then lock it, an idle session ends, a change without the CSRF token is
// refused, each role's navigation holds only its screens (a JTWG reviewer
// cannot reach a case even by typing its address), a liaison sees only the
// handover essentials, and no JTWG screen shows any personal data.

import { launchBrowser, newPage, step } from './lib.mjs';
import { signIn, finish, node, record, seen, ask, expectClean, caseByReference, open, shown, eventually, andReload } from './console.mjs';
import { config } from './lib.mjs';

const browser = await launchBrowser();
const { reference, locked_user: lockedUser, planted } = config().extra;
const ne = node('niamey');

const NAV = {
  caseworker: ['#/cases', '#/cases/new', '#/handovers', '#/account'],
  supervisor: ['#/cases', '#/cases/new', '#/decisions', '#/handovers', '#/admin/directory', '#/account'],
  liaison: ['#/handovers', '#/account'],
  jtwg_reviewer: ['#/review', '#/account'],
  admin: ['#/review', '#/admin/users', '#/admin/messages', '#/admin/alerts', '#/admin/crossings', '#/admin/directory', '#/account'],
};

async function attempt(page, password) {
  await page.fill('input[name=password]', password);
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/v1/session') && r.request().method() === 'POST'),
    page.click('form.signin button[type=submit]'),
  ]);
  await page.locator('form.signin .error:visible').waitFor();
  return { status: res.status(), shown: await page.locator('form.signin .error').textContent() };
}

try {
  await step('wrong passwords: told so, then asked to wait, then the account is locked (even for the right password)', async () => {
    const page = await newPage(browser, { locale: 'en-GB' });
    record(page);
    await page.goto(`${ne.url}/`);
    await page.fill('input[name=username]', lockedUser.username);
    let last;
    for (let i = 1; i <= 10; i += 1) {
      last = await attempt(page, `wrong password ${i}`);
      if (i <= 3 && (last.status !== 401 || last.shown !== 'Wrong username or password.')) throw new Error(`attempt ${i}: ${JSON.stringify(last)}`);
      if (i >= 3 && i < 10) {
        const early = await attempt(page, 'too early');
        if ((early.status !== 429 || !early.shown.startsWith('Too many failed attempts. Try again in'))) throw new Error(`wait after ${i}: ${JSON.stringify(early)}`);
        await ask({ ask: 'advance_clock', node: 'niamey', minutes: 2 });
      }
    }
    const right = await attempt(page, lockedUser.password);
    if (right.status !== 429 || right.shown !== 'This account is locked after repeated failures. Try again in 15 minutes or ask an administrator.') {
      throw new Error(`locked: ${JSON.stringify(right)}`);
    }
    await ask({ ask: 'advance_clock', node: 'niamey', minutes: 16 });
    await page.fill('input[name=password]', lockedUser.password);
    await page.click('form.signin button[type=submit]');
    await page.waitForSelector('header.top .who');
    expectClean(page, 'sign-in page');
  });

  await step('an idle session ends: the next click asks to sign in again', async () => {
    const page = await signIn(browser, 'niamey', 'caseworker', { locale: 'fr-FR' });
    await ask({ ask: 'advance_clock', node: 'niamey', minutes: 31 });
    await page.click('nav a[href="#/handovers"]');
    await page.locator('form.signin').waitFor();
    const shown = await page.locator('form.signin .error').textContent();
    if (shown !== 'Votre session a pris fin. Veuillez vous reconnecter.') throw new Error(shown);
  });

  await step('a change without the session\'s CSRF token is refused', async () => {
    const page = await signIn(browser, 'niamey', 'caseworker');
    const answers = await page.evaluate(async () => {
      const post = (headers) => fetch('/api/v1/cases', {
        method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', ...headers },
        body: JSON.stringify({ details: {} }),
      }).then(async (r) => ({ status: r.status, code: (await r.json()).code }));
      return [await post({}), await post({ 'X-CSRF-Token': '0'.repeat(64) })];
    });
    for (const a of answers) if (a.status !== 403 || a.code !== 'csrf_token_invalid') throw new Error(JSON.stringify(answers));
  });

  const reviewer = await signIn(browser, 'niamey', 'jtwg_reviewer', { locale: 'fr-FR' });
  await step('each role\'s navigation holds its screens only', async () => {
    for (const [role, expected] of Object.entries(NAV)) {
      const page = role === 'jtwg_reviewer' ? reviewer : await signIn(browser, 'niamey', role);
      const links = await page.locator('nav.main-nav a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
      if (JSON.stringify(links) !== JSON.stringify(expected)) throw new Error(`${role}: ${links} != ${expected}`);
      if (role !== 'jtwg_reviewer') await page.context().close();
    }
  });

  await step('a JTWG reviewer typing a case\'s address gets "not available", and the console asks the API nothing about it', async () => {
    const c = await caseByReference('niamey', reference);
    const before = (await seen()).length;
    await open(reviewer, `cases/${c.id}`);
    if (await reviewer.locator('main h1').textContent() !== 'Non disponible') throw new Error('a case screen was shown');
    const asked = (await seen()).slice(before).filter((x) => x.url.includes('/api/v1/cases'));
    if (asked.length) throw new Error(`asked ${asked.map((x) => x.url)}`);
  });

  await step('no JTWG screen, and no answer the console got for one, holds personal data', async () => {
    const before = (await seen()).length;
    for (const tab of ['statistics', 'exchange', 'reconciliation', 'checkpoints']) {
      await open(reviewer, `review/${tab}`);
      const text = await reviewer.locator('body').innerText();
      for (const p of planted) if (text.includes(p)) throw new Error(`${tab} shows ${p}`);
    }
    const answers = (await seen()).slice(before);
    if (answers.length < 4) throw new Error('the review screens asked the API');
    for (const x of answers) for (const p of planted) if ((x.response_body || '').includes(p)) throw new Error(`${x.url} answered ${p}`);
    expectClean(reviewer, 'review');
  });

  await step('a liaison sees the handover essentials, not the person\'s contacts or history', async () => {
    const page = await signIn(browser, 'niamey', 'liaison', { locale: 'en-GB', viewport: { width: 360, height: 740 } });
    const c = await caseByReference('niamey', reference);
    await page.click(`a:has-text("${reference}")`);
    await shown(page, `cases/${c.id}`);
    await page.locator('h2', { hasText: 'For the handover' }).waitFor();
    const text = await page.locator('main').innerText();
    for (const hidden of ['Case data', 'Identity', 'Messages', planted.find((p) => p.startsWith('+'))]) {
      if (text.includes(hidden)) throw new Error(`a liaison sees ${hidden}`);
    }
    expectClean(page, 'liaison case page');
  });

  await step('a caseworker records that the person withdrew consent: told what is erased, it is erased on both nodes', async () => {
    const page = await signIn(browser, 'niamey', 'caseworker', { locale: 'fr-FR', lang: 'fr' });
    const c = await caseByReference('niamey', reference);
    await open(page, `cases/${c.id}`);
    await page.click('button:has-text("Consentement retiré…")');
    const form = page.locator('form.danger');
    const told = await form.innerText();
    for (const words of ['sur les deux nœuds', 'téléphone', 'irréversible']) if (!told.includes(words)) throw new Error(`not told: ${words}`);
    await andReload(page, () => form.locator('button[type=submit]').click(), 30000);
    for (const name of ['niamey', 'abuja']) {
      await eventually(`${name} erased the person's data`, async () => {
        const x = await caseByReference(name, reference);
        return x.erased_at && x.identity === null;
      });
    }
    const text = await page.locator('main').innerText();
    for (const p of planted) if (text.includes(p)) throw new Error(`the page still shows ${p}`);
    expectClean(page, 'withdrawal');
  });
} finally {
  await finish(browser);
}
