// The whole SOP clicked in two consoles: a Niamey caseworker working in
// French opens a minor's case, a Niamey supervisor approves it, an Abuja
// supervisor working in English accepts it, the liaisons (on phones)
// negotiate a handover plan and both confirm the handover, then Abuja
// records the repatriation, assistance, a follow-up and closes the case.
// After each step both nodes' states are read through the API.

import { launchBrowser, step, checkA11y } from './lib.mjs';
import { signIn, finish, bothIn, caseByReference, selectFirst, expectClean, eventually, open, andReload } from './console.mjs';

const PHONE = { width: 360, height: 740 };
const browser = await launchBrowser();

/** Clicks a next step, fills its form if asked, confirms, and waits for the answer. */
async function act(page, action, fill) {
  await page.click(`button[data-action="${action}"]`);
  const form = page.locator('.action-panel form');
  await form.waitFor();
  if (fill) await fill(form);
  await andReload(page, async () => {
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/transitions') && r.request().method() === 'POST'),
      form.locator('button[type=submit]').click(),
    ]);
    if (res.status() !== 200) throw new Error(`${action}: ${res.status()} ${await res.text()}`);
  }, 30000);
}

async function openCase(page, reference, via) {
  await open(page, via);
  await page.click(`a:has-text("${reference}")`);
  await page.waitForFunction(() => (document.getElementById('app')?.dataset.ready || '').startsWith('cases/'));
}

try {
  let reference;
  const neCaseworker = await signIn(browser, 'niamey', 'caseworker', { locale: 'fr-FR' });
  await step('a Niamey caseworker, in French, opens a case for a 16-year-old girl with her guardian\'s consent', async () => {
    const page = neCaseworker;
    await page.click('nav a[href="#/cases/new"]');
    const form = page.locator('form.case-form');
    await form.waitFor();
    if ((await page.locator('h1').textContent()) !== 'Nouveau dossier') throw new Error('not in French');
    await form.locator('[data-field="details.person_status"]').selectOption('presumed_victim_trafficking');
    await form.locator('[data-field="details.sex"]').selectOption('female');
    await form.locator('[data-field="details.age_band"]').selectOption('15_17');
    if (!(await page.isChecked('#f-minor'))) throw new Error('an age band under 18 marks a minor');
    await form.locator('[data-field="details.citizenship"]').fill('ng');
    await form.locator('[data-field="details.languages"]').fill('hau');
    await form.locator('[data-field="details.origin.country"]').fill('NG');
    await form.locator('[data-field="details.origin.region"]').fill('Kano');
    await form.locator('[data-field="identity.given_name"]').fill('Zainab');
    await form.locator('[data-field="identity.family_name"]').fill('Qwertyson');
    await form.locator('[data-field="identity.phone"]').fill('+2348012345678');
    await form.locator('fieldset[data-field="details.exploitation_types"] input[value="domestic_servitude"]').check();
    await form.locator('[data-field="details.risk_level"]').selectOption('high');
    await form.locator('fieldset[data-field="details.urgent_needs"] input[value="safe_shelter"]').check();
    await form.locator('[data-field="details.travel_document_status"]').selectOption('no_document');
    await form.locator('fieldset[data-field="details.requested_services"] input[value="repatriation"]').check();
    await form.locator('[data-field="details.consent.given_by"]').selectOption('guardian');
    await form.locator('[data-field="details.consent.purpose"]').selectOption('voluntary_return');
    for (const scope of ['data_sharing', 'family_tracing', 'follow_up_contact']) {
      await form.locator(`fieldset[data-field="details.consent.scope"] input[value="${scope}"]`).check();
    }
    await checkA11y(page, 'case form (fr)');
    await form.locator('button[type=submit]').click();
    await page.waitForSelector('.case-head h1');
    reference = (await page.locator('.case-head h1').textContent()).replace('Dossier ', '').trim();
    const ne = await caseByReference('niamey', reference);
    if (ne.state !== 'draft' || ne.details.minor !== true) throw new Error(`draft expected: ${JSON.stringify(ne)}`);
    if (ne.identity.family_name !== 'Qwertyson') throw new Error('identity saved');
  });
  await step('she corrects the draft (the district was missing)', async () => {
    const page = neCaseworker;
    await page.click('a.button[href$="/edit"]');
    const form = page.locator('form.case-form');
    await form.waitFor();
    if (await form.locator('[data-field="identity.family_name"]').inputValue() !== 'Qwertyson') throw new Error('the draft is loaded');
    await form.locator('[data-field="details.origin.district"]').fill('Dala');
    await form.locator('button[type=submit]').click();
    await page.waitForFunction(() => /^cases\/[\w-]+$/.test(document.getElementById('app')?.dataset.ready || ''));
    const ne = await caseByReference('niamey', reference);
    if (ne.details.origin.district !== 'Dala' || ne.version !== 2) throw new Error(`edited: ${JSON.stringify(ne.details.origin)} v${ne.version}`);
  });
  await step('she submits it for approval', async () => {
    await act(neCaseworker, 'submit');
    await bothIn(reference, 'submitted', ['niamey']);
    if (await caseByReference('abuja', reference)) throw new Error('Abuja has nothing before approval');
  });
  const neSupervisor = await signIn(browser, 'niamey', 'supervisor', { locale: 'fr-FR' });
  await step('a Niamey supervisor approves it from the decisions queue; Abuja receives it', async () => {
    await openCase(neSupervisor, reference, 'decisions');
    await act(neSupervisor, 'approve');
    await bothIn(reference, 'received');
  });
  const ngSupervisor = await signIn(browser, 'abuja', 'supervisor', { locale: 'en-GB' });
  await step('an Abuja supervisor, in English, accepts it', async () => {
    await openCase(ngSupervisor, reference, 'decisions');
    if (!(await ngSupervisor.locator('h1').first().textContent()).startsWith('Case ')) throw new Error('not in English');
    await checkA11y(ngSupervisor, 'case page (en)');
    await act(ngSupervisor, 'accept');
    await bothIn(reference, 'accepted');
  });
  const ngLiaison = await signIn(browser, 'abuja', 'liaison', { locale: 'en-GB', viewport: PHONE });
  const neLiaison = await signIn(browser, 'niamey', 'liaison', { locale: 'fr-FR', viewport: PHONE });
  await step('Abuja\'s liaison, on a phone, proposes a handover plan', async () => {
    await openCase(ngLiaison, reference, 'handovers');
    await act(ngLiaison, 'schedule_handover', async (form) => {
      await form.locator('[data-field="handover.crossing_point"]').waitFor();
      await selectFirst(form, '[data-field="handover.crossing_point"]');
      // The handover happens today, within the window.
      await form.locator('[data-field="handover.window_from"]').fill(await form.locator('[data-field="handover.window_from"]').getAttribute('min'));
      await form.locator('fieldset[data-field="handover.escorts"] input').first().check();
    });
    await bothIn(reference, 'handover_scheduled');
  });
  await step('Niamey\'s liaison, on a phone, proposes another crossing point; Abuja\'s accepts it', async () => {
    await openCase(neLiaison, reference, 'handovers');
    await checkA11y(neLiaison, 'liaison case page (fr, 360 px)');
    await neLiaison.click('button[data-plan="counter"]');
    const form = neLiaison.locator('form.plan-form');
    await form.waitFor();
    const select = form.locator('[data-field="handover.crossing_point"]');
    const values = await select.evaluate((s) => [...s.options].map((o) => o.value));
    await select.selectOption(values[values.length - 1]);
    await andReload(neLiaison, () => form.locator('button[type=submit]').click());
    const abujaSees = await eventually('Abuja sees the counter-proposal', async () => {
      const c = await caseByReference('abuja', reference);
      return c.handover_plan?.plan.crossing_point === values[values.length - 1] && c;
    });
    if (abujaSees.handover_plan.status !== 'proposed') throw new Error('proposed');
    await ngLiaison.reload();
    await ngLiaison.waitForSelector('button[data-plan="accept"]');
    await andReload(ngLiaison, () => ngLiaison.click('button[data-plan="accept"]'));
    await eventually('both have the plan agreed', async () => {
      const [ne, ng] = [await caseByReference('niamey', reference), await caseByReference('abuja', reference)];
      return ne.handover_plan?.status === 'agreed' && ng.handover_plan?.status === 'agreed';
    });
  });
  await step('Niamey\'s liaison records the departure', async () => {
    await neLiaison.reload();
    await neLiaison.waitForSelector('button[data-action="depart"]');
    await act(neLiaison, 'depart');
    await bothIn(reference, 'in_transit');
  });
  await step('both liaisons confirm the handover at the crossing', async () => {
    await ngLiaison.reload();
    await ngLiaison.waitForSelector('button[data-action="confirm_handover"]');
    await act(ngLiaison, 'confirm_handover');
    await eventually('Niamey has Abuja\'s confirmation', async () => (await caseByReference('niamey', reference)).handover_plan?.receiving_confirmation);
    await neLiaison.reload();
    await neLiaison.waitForSelector('button[data-action="confirm_handover"]');
    await act(neLiaison, 'confirm_handover');
    await bothIn(reference, 'handed_over');
  });
  const ngCaseworker = await signIn(browser, 'abuja', 'caseworker', { locale: 'en-GB' });
  await step('Abuja records the repatriation report and starts assistance', async () => {
    await ngCaseworker.goto(`${ngCaseworker.url().split('#')[0]}#/cases`);
    await ngCaseworker.fill('input[type=search]', reference);
    await ngCaseworker.click('form.filters button[type=submit]');
    await ngCaseworker.click(`a:has-text("${reference}")`);
    const form = ngCaseworker.locator('form.report-form');
    await form.waitFor();
    for (const f of ['family_tracing', 'family_assessment', 'return_plan', 'risk_level']) await selectFirst(form, `[data-field="${f}"]`);
    await andReload(ngCaseworker, () => form.locator('button[type=submit]').click());
    await act(ngCaseworker, 'start_assistance');
    await bothIn(reference, 'in_assistance');
  });
  await step('reintegration monitoring and a first follow-up', async () => {
    await act(ngCaseworker, 'start_reintegration_monitoring');
    await bothIn(reference, 'reintegration_monitoring');
    const form = ngCaseworker.locator('form.report-form');
    await form.waitFor();
    await selectFirst(form, '[data-field="outcome"]');
    await andReload(ngCaseworker, () => form.locator('button[type=submit]').click());
    await eventually('Niamey has the follow-up', async () => {
      const c = await caseByReference('niamey', reference);
      return c.follow_ups?.some((f) => f.recorded_at);
    });
  });
  await step('Abuja\'s supervisor closes the case', async () => {
    await ngSupervisor.reload();
    await ngSupervisor.waitForSelector('button[data-action="close"]');
    await act(ngSupervisor, 'close', async (form) => {
      await selectFirst(form, '[data-field="reason_code"]');
      await selectFirst(form, '[data-field="outcome"]');
    });
    await bothIn(reference, 'closed');
  });
  await step('no browser error on any page', async () => {
    for (const [label, page] of Object.entries({ neCaseworker, neSupervisor, ngSupervisor, ngLiaison, neLiaison, ngCaseworker })) {
      expectClean(page, label);
    }
  });
} finally {
  await finish(browser);
}
