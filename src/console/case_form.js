// Creating a case, and editing it while it is a draft: the person, their
// identity, the coded data set (code lists from the API), the service
// asked of the other side, and consent.

import { h, field, checkboxes, select, showFieldErrors } from './dom.js';
import * as api from './api.js';
import { t, options, problemText, today } from './i18n.js';

function text(value, attrs = {}) {
  return h('input', { type: 'text', value: value ?? '', ...attrs });
}

function list(s) {
  return s.split(',').map((x) => x.trim().toLowerCase()).filter(Boolean);
}

const orNull = (v) => (v === '' || v === undefined ? null : v);

async function peerServices() {
  try {
    const r = await api.get('/directory', { side: 'peer' });
    return r.sides.flatMap((side) => side.organizations.flatMap((o) => o.services.map((s) => [s.id, `${o.name} — ${s.name}`])));
  } catch {
    return [];
  }
}

/** The form; `id` is the draft to edit, or null for a new case. */
export async function caseFormScreen(ctx, id) {
  let etag = null;
  let existing = { details: {}, identity: null, reference: '' };
  const [services, loaded] = await Promise.all([
    peerServices(),
    id ? api.call('GET', `/cases/${id}`) : null,
  ]);
  if (loaded) { existing = loaded.data; etag = loaded.etag; }
  const d = existing.details || {};
  const idn = existing.identity || {};
  const consent = d.consent || {};
  const origin = d.origin || {};

  const f = {
    person_status: select(options('person_status'), d.person_status, { blank: '' }),
    sex: select(options('sex'), d.sex, { blank: '' }),
    age_band: select(options('age_band'), d.age_band, { blank: '' }),
    minor: h('input', { type: 'checkbox', checked: !!d.minor }),
    citizenship: text(d.citizenship, { maxlength: '2', autocapitalize: 'characters' }),
    languages: text((d.languages || []).join(', ')),
    origin_country: text(origin.country, { maxlength: '2', autocapitalize: 'characters' }),
    origin_region: text(origin.region),
    origin_district: text(origin.district),
    dependants: h('input', { type: 'number', min: '0', max: '20', value: d.dependants_count ?? 0 }),
    given_name: text(idn.given_name, { autocomplete: 'off' }),
    family_name: text(idn.family_name, { autocomplete: 'off' }),
    other_names: text(idn.other_names, { autocomplete: 'off' }),
    date_of_birth: h('input', { type: 'date', value: idn.date_of_birth ?? '' }),
    phone: text(idn.phone, { type: 'tel', autocomplete: 'off' }),
    family_address: text(idn.family_address, { autocomplete: 'off' }),
    exploitation: checkboxes(t('form.exploitation_types'), options('exploitation_type'), d.exploitation_types, { name: 'details.exploitation_types' }),
    risk_level: select(options('risk_level'), d.risk_level, { blank: '' }),
    risk_flags: checkboxes(t('form.risk_flags'), options('risk_flag'), d.risk_flags, { name: 'details.risk_flags' }),
    urgent_needs: checkboxes(t('form.urgent_needs'), options('urgent_need'), d.urgent_needs, { name: 'details.urgent_needs' }),
    travel: select(options('travel_document_status'), d.travel_document_status, { blank: '' }),
    services: checkboxes(t('form.requested_services'), options('service'), d.requested_services, { name: 'details.requested_services' }),
    addressed_to: select(services, d.addressed_to, { blank: t('form.addressed_none') }),
    given_by: select(options('consent_given_by'), consent.given_by, { blank: '' }),
    given_on: h('input', { type: 'date', value: consent.given_on ?? today(), max: today() }),
    purpose: select(options('consent_purpose'), consent.purpose, { blank: '' }),
    scope: checkboxes(t('form.consent_scope'), options('consent_scope'), consent.scope || ['referral'], { name: 'details.consent.scope' }),
    interpreter: text(consent.interpreter_language, { maxlength: '3' }),
  };
  const minorHint = h('p', { class: 'hint', hidden: !d.minor }, t('form.minor_hint'));
  const showMinor = () => { minorHint.hidden = !f.minor.checked; };
  f.minor.addEventListener('change', showMinor);
  f.age_band.addEventListener('change', () => {
    const minorBands = ['0_4', '5_11', '12_14', '15_17'];
    if (f.age_band.value) f.minor.checked = minorBands.includes(f.age_band.value);
    showMinor();
  });

  function body() {
    const identity = {
      given_name: orNull(f.given_name.value.trim()),
      family_name: orNull(f.family_name.value.trim()),
      other_names: orNull(f.other_names.value.trim()),
      date_of_birth: orNull(f.date_of_birth.value),
      phone: orNull(f.phone.value.trim()),
      family_address: orNull(f.family_address.value.trim()),
    };
    const anyIdentity = Object.values(identity).some((v) => v !== null);
    return {
      details: {
        person_status: orNull(f.person_status.value),
        sex: orNull(f.sex.value),
        age_band: orNull(f.age_band.value),
        minor: f.minor.checked,
        citizenship: orNull(f.citizenship.value.trim().toUpperCase()),
        languages: list(f.languages.value),
        origin: f.origin_country.value.trim() ? {
          country: f.origin_country.value.trim().toUpperCase(),
          region: orNull(f.origin_region.value.trim()),
          district: orNull(f.origin_district.value.trim()),
        } : null,
        exploitation_types: f.exploitation.values(),
        risk_level: orNull(f.risk_level.value),
        risk_flags: f.risk_flags.values(),
        urgent_needs: f.urgent_needs.values(),
        dependants_count: f.dependants.value === '' ? null : Number(f.dependants.value),
        travel_document_status: orNull(f.travel.value),
        requested_services: f.services.values(),
        addressed_to: orNull(f.addressed_to.value),
        consent: f.given_by.value || f.purpose.value ? {
          given_by: f.given_by.value,
          given_on: f.given_on.value,
          purpose: f.purpose.value,
          scope: f.scope.values(),
          interpreter_language: orNull(f.interpreter.value.trim().toLowerCase()),
        } : null,
      },
      identity: anyIdentity ? identity : null,
    };
  }

  const status = h('p', { class: 'error', role: 'alert', hidden: true });
  const key = crypto.randomUUID();
  const submit = h('button', { type: 'submit' }, t('form.save_draft'));
  const form = h('form', {
    class: 'case-form',
    novalidate: true,
    onsubmit: async (e) => {
      e.preventDefault();
      submit.disabled = true;
      status.hidden = true;
      try {
        const r = id
          ? await api.call('PUT', `/cases/${id}`, { body: body(), etag })
          : await api.call('POST', '/cases', { body: body(), idempotencyKey: key });
        ctx.flash = t('saved');
        ctx.go(`cases/${r.data.id}`);
      } catch (p) {
        status.textContent = p.errors && p.errors.length ? t('form.invalid') : problemText(p);
        status.hidden = false;
        showFieldErrors(form, p);
      } finally {
        submit.disabled = false;
      }
    },
  },
  h('fieldset', {}, h('legend', {}, t('form.person')),
    field(t('form.person_status'), f.person_status, { name: 'details.person_status' }),
    field(t('form.sex'), f.sex, { name: 'details.sex' }),
    field(t('form.age_band'), f.age_band, { name: 'details.age_band' }),
    h('div', { class: 'field inline' }, f.minor, h('label', { for: (f.minor.id = 'f-minor') }, t('form.minor'))),
    minorHint,
    field(t('form.citizenship'), f.citizenship, { name: 'details.citizenship' }),
    field(t('form.languages'), f.languages, { name: 'details.languages' }),
    field(t('form.origin_country'), f.origin_country, { name: 'details.origin.country' }),
    field(t('form.origin_region'), f.origin_region, { name: 'details.origin.region' }),
    field(t('form.origin_district'), f.origin_district, { name: 'details.origin.district' }),
    field(t('form.dependants'), f.dependants, { name: 'details.dependants_count' })),
  h('fieldset', {}, h('legend', {}, t('form.identity')),
    field(t('form.given_name'), f.given_name, { name: 'identity.given_name' }),
    field(t('form.family_name'), f.family_name, { name: 'identity.family_name' }),
    field(t('form.other_names'), f.other_names, { name: 'identity.other_names' }),
    field(t('form.date_of_birth'), f.date_of_birth, { name: 'identity.date_of_birth' }),
    field(t('form.phone'), f.phone, { name: 'identity.phone' }),
    field(t('form.family_address'), f.family_address, { name: 'identity.family_address' })),
  h('fieldset', {}, h('legend', {}, t('form.situation')),
    f.exploitation,
    field(t('form.risk_level'), f.risk_level, { name: 'details.risk_level' }),
    f.risk_flags,
    f.urgent_needs,
    field(t('form.travel_document_status'), f.travel, { name: 'details.travel_document_status' })),
  h('fieldset', {}, h('legend', {}, t('form.services')),
    f.services,
    field(t('form.addressed_to'), f.addressed_to, { name: 'details.addressed_to' })),
  h('fieldset', {}, h('legend', {}, t('form.consent')),
    field(t('form.consent_given_by'), f.given_by, { name: 'details.consent.given_by', hint: t('form.minor_hint') }),
    field(t('form.consent_given_on'), f.given_on, { name: 'details.consent.given_on' }),
    field(t('form.consent_purpose'), f.purpose, { name: 'details.consent.purpose' }),
    f.scope,
    field(t('form.interpreter'), f.interpreter, { name: 'details.consent.interpreter_language' })),
  status,
  h('p', { class: 'actions' }, submit, ' ', h('a', { href: id ? `#/cases/${id}` : '#/cases' }, t('cancel'))));
  return h('section', {},
    h('h1', {}, id ? t('form.edit_title', { ref: existing.reference }) : t('form.new_title')),
    form);
}
