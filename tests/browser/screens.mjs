// Every screen of every role, in French and in English, and on a 360 px
// phone: rendered without a browser error, every text translated, no
// serious or critical accessibility violation (axe-core, WCAG 2 A/AA), no
// sideways scrolling on the phone. The main screens are photographed for
// the README; a photograph that drifted from the committed one fails
// (PASSERELLE_REGENERATE=1 takes new ones).

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchBrowser, step, checkA11y, config } from './lib.mjs';
import { signIn, finish, node, caseByReference, expectClean, open } from './console.mjs';
import { newPage } from './lib.mjs';

const browser = await launchBrowser();
const { reference } = config().extra;
const PHONE = { width: 360, height: 740 };

const SCREENS = {
  caseworker: ['cases', 'cases/new', 'handovers', 'account', 'case'],
  supervisor: ['decisions', 'cases', 'cases/new', 'handovers', 'admin/directory', 'account', 'case'],
  liaison: ['handovers', 'account', 'case'],
  jtwg_reviewer: ['review/statistics', 'review/exchange', 'review/reconciliation', 'review/checkpoints', 'account'],
  admin: ['admin/users', 'admin/messages', 'admin/alerts', 'admin/crossings', 'admin/directory', 'review/statistics', 'account'],
};

/** The screens photographed for the README: role, screen, phone? */
const PHOTOS = [
  ['caseworker', 'cases', false],
  ['caseworker', 'cases/new', false],
  ['supervisor', 'case', false],
  ['supervisor', 'decisions', false],
  ['liaison', 'handovers', true],
  ['liaison', 'case', true],
  ['jtwg_reviewer', 'review/statistics', false],
  ['admin', 'admin/users', false],
];

async function visit(page, path, label) {
  await open(page, path);
  await checkA11y(page, label);
  const missing = await page.evaluate(() => window.__passerelle.missingTexts());
  if (missing.fr.length || missing.en.length || missing.asked.length) throw new Error(`${label}: untranslated ${JSON.stringify(missing)}`);
  expectClean(page, label);
}

/** Share of pixels that differ between two PNGs (1 if their sizes differ). */
async function difference(a, b) {
  const page = await browser.newPage();
  try {
    return await page.evaluate(async ([x, y]) => {
      const load = (b64) => new Promise((ok, ko) => { const i = new Image(); i.onload = () => ok(i); i.onerror = ko; i.src = `data:image/png;base64,${b64}`; });
      const [i, j] = [await load(x), await load(y)];
      if (i.width !== j.width || i.height !== j.height) return 1;
      const pixels = (img) => { const c = document.createElement('canvas'); c.width = img.width; c.height = img.height; const g = c.getContext('2d'); g.drawImage(img, 0, 0); return g.getImageData(0, 0, img.width, img.height).data; };
      const [p, q] = [pixels(i), pixels(j)];
      let diff = 0;
      for (let k = 0; k < p.length; k += 4) {
        if (Math.abs(p[k] - q[k]) + Math.abs(p[k + 1] - q[k + 1]) + Math.abs(p[k + 2] - q[k + 2]) > 48) diff += 1;
      }
      return diff / (p.length / 4);
    }, [a.toString('base64'), b.toString('base64')]);
  } finally {
    await page.close();
  }
}

const drifted = [];
async function photograph(page, name) {
  const dir = config().screenshots;
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.png`);
  // What changes from run to run (references, dates and times) is masked.
  const mask = [page.getByText(/(NE|NG)-\d{4}-[A-Z0-9]{6}|\d{1,2}:\d{2}|\b20\d{2}\b/)];
  const png = await page.screenshot({ type: 'png', animations: 'disabled', caret: 'hide', scale: 'css', mask, maskColor: '#dfe3e9' });
  if (config().regenerate || !existsSync(file)) {
    writeFileSync(file, png);
    return;
  }
  const share = await difference(readFileSync(file), png);
  if (share > 0.01) {
    drifted.push(`${name} (${(share * 100).toFixed(1)}% of pixels)`);
    mkdirSync(config().drifted, { recursive: true });
    writeFileSync(join(config().drifted, `${name}.png`), png);
  }
}

try {
  for (const lang of ['fr', 'en']) {
    const locale = lang === 'fr' ? 'fr-FR' : 'en-GB';
    await step(`the sign-in page (${lang})`, async () => {
      const page = await newPage(browser, { locale });
      await page.goto(`${node('niamey').url}/`);
      await page.locator('form.signin').waitFor();
      // The sign-in page follows the browser, and its switch changes language.
      const other = lang === 'fr' ? 'en' : 'fr';
      await page.click('header.top button.lang');
      await page.waitForFunction((l) => document.documentElement.lang === l && document.querySelector('form.signin'), other);
      await page.click('header.top button.lang');
      await page.waitForFunction((l) => document.documentElement.lang === l && document.querySelector('form.signin'), lang);
      await checkA11y(page, `sign-in (${lang})`);
      await photograph(page, `${lang}-sign-in`);
      await page.context().close();
    });
    for (const [role, screens] of Object.entries(SCREENS)) {
      await step(`every ${role} screen (${lang})`, async () => {
        const page = await signIn(browser, 'niamey', role, { locale, lang });
        const c = await caseByReference('niamey', reference);
        for (const s of screens) {
          const path = s === 'case' ? `cases/${c.id}` : s;
          await visit(page, path, `${role} ${s} (${lang})`);
          const photo = PHOTOS.find(([r, x, phone]) => r === role && x === s && !phone);
          if (photo) await photograph(page, `${lang}-${role}-${s.replace('/', '-')}`);
        }
        await page.context().close();
      });
    }
  }
  for (const [role, screens] of Object.entries(SCREENS)) {
    await step(`every ${role} screen on a 360 px phone, without sideways scrolling`, async () => {
      const lang = role === 'liaison' ? 'fr' : 'en';
      const page = await signIn(browser, 'niamey', role, { locale: lang === 'fr' ? 'fr-FR' : 'en-GB', viewport: PHONE, lang });
      const c = await caseByReference('niamey', reference);
      for (const s of screens) {
        const path = s === 'case' ? `cases/${c.id}` : s;
        await visit(page, path, `${role} ${s} (360 px)`);
        const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        if (wide > 0) throw new Error(`${role} ${s}: ${wide} px wider than the phone`);
        const photo = PHOTOS.find(([r, x, phone]) => r === role && x === s && phone);
        if (photo) {
          for (const l of ['fr', 'en']) {
            const p2 = await signIn(browser, 'niamey', role, { locale: l === 'fr' ? 'fr-FR' : 'en-GB', viewport: PHONE, lang: l });
            await open(p2, path);
            await photograph(p2, `${l}-${role}-${s.replace('/', '-')}-phone`);
            await p2.context().close();
          }
        }
      }
      await page.context().close();
    });
  }
  await step('the photographs match the committed ones', async () => {
    if (drifted.length) {
      throw new Error(`screenshots drifted: ${drifted.join(', ')}; new ones are in ${config().drifted}; PASSERELLE_REGENERATE=1 cargo test --test api console takes them again`);
    }
  });
} finally {
  await finish(browser);
}
