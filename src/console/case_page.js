// One case: where it stands, what it holds (as the role may see it), the
// next steps the caller may take, the handover plan, reports, the
// timeline and each message's delivery.

import { h, mount, field, checkboxes, select, showProblem, scrollable } from './dom.js';
import * as api from './api.js';
import { t, label, options, when, day, today, problemText } from './i18n.js';

/** The code list a lifecycle action's reason comes from. */
const REASONS = {
  decline: 'decline_reason',
  close: 'closure_reason',
  cancel: 'cancellation_reason',
  put_on_hold: 'hold_reason',
  fail: 'failure_reason',
  return_to_draft: 'return_to_draft_reason',
  mark_entered_in_error: 'entered_in_error_reason',
};

/** Actions that undo or stop a case: shown apart, as secondary buttons. */
const SECONDARY = new Set(['cancel', 'fail', 'put_on_hold', 'mark_entered_in_error', 'return_to_draft', 'decline', 'request_info']);

function dl(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter(([, v]) => v !== null && v !== undefined && v !== '' && !(Array.isArray(v) && !v.length))
    .map(([k, v]) => [h('dt', {}, k), h('dd', {}, Array.isArray(v) ? v.join(', ') : String(v))]));
}

const many = (list, codes) => (codes || []).map((c) => label(list, c));

function detailsView(d) {
  const c = d.consent || {};
  return h('section', { class: 'card' }, h('h2', {}, t('case.details')), dl([
    [t('form.person_status'), label('person_status', d.person_status)],
    [t('form.sex'), label('sex', d.sex)],
    [t('form.age_band'), label('age_band', d.age_band)],
    [t('form.minor'), d.minor === null || d.minor === undefined ? null : t(d.minor ? 'yes' : 'no')],
    [t('form.citizenship'), d.citizenship],
    [t('form.languages'), d.languages],
    [t('form.origin_country'), d.origin ? [d.origin.country, d.origin.region, d.origin.district].filter(Boolean).join(' / ') : null],
    [t('form.exploitation_types'), many('exploitation_type', d.exploitation_types)],
    [t('form.risk_level'), label('risk_level', d.risk_level)],
    [t('form.risk_flags'), many('risk_flag', d.risk_flags)],
    [t('form.urgent_needs'), many('urgent_need', d.urgent_needs)],
    [t('form.dependants'), d.dependants_count],
    [t('form.travel_document_status'), label('travel_document_status', d.travel_document_status)],
    [t('form.requested_services'), many('service', d.requested_services)],
    [t('form.consent_given_by'), label('consent_given_by', c.given_by)],
    [t('form.consent_given_on'), day(c.given_on)],
    [t('form.consent_purpose'), label('consent_purpose', c.purpose)],
    [t('form.consent_scope'), many('consent_scope', c.scope)],
  ]));
}

function identityView(i) {
  return h('section', { class: 'card' }, h('h2', {}, t('case.identity')), i ? dl([
    [t('form.given_name'), i.given_name],
    [t('form.family_name'), i.family_name],
    [t('form.other_names'), i.other_names],
    [t('form.date_of_birth'), day(i.date_of_birth)],
    [t('form.phone'), i.phone],
    [t('form.family_address'), i.family_address],
  ]) : h('p', {}, t('case.no_identity')));
}

function handoverEssentials(v) {
  return h('section', { class: 'card' }, h('h2', {}, t('case.handover_view')), dl([
    [t('form.given_name'), v.given_name],
    [t('form.family_name'), v.family_name],
    [t('form.sex'), label('sex', v.sex)],
    [t('form.age_band'), label('age_band', v.age_band)],
    [t('form.minor'), v.minor === null || v.minor === undefined ? null : t(v.minor ? 'yes' : 'no')],
    [t('form.dependants'), v.dependants_count],
    [t('form.languages'), v.languages],
    [t('form.urgent_needs'), many('urgent_need', v.urgent_needs)],
    [t('form.risk_level'), label('risk_level', v.risk_level)],
    [t('form.risk_flags'), many('risk_flag', v.risk_flags)],
    [t('form.travel_document_status'), label('travel_document_status', v.travel_document_status)],
  ]));
}

/** Inputs of a handover plan, filled from `plan` if given. */
async function planFields(plan) {
  const points = await api.get('/crossing-points');
  const p = plan || {};
  const f = {
    crossing_point: select(points.items.filter((x) => x.active).map((x) => [x.code, x.name]), p.crossing_point),
    window_from: h('input', { type: 'date', value: p.window_from || today(1), min: today() }),
    window_to: h('input', { type: 'date', value: p.window_to || today(3), min: today() }),
    escorts: checkboxes(t('plan.escorts'), options('escort_agency'), p.escorts || [], { name: 'handover.escorts' }),
  };
  const nodes = [
    field(t('plan.crossing_point'), f.crossing_point, { name: 'handover.crossing_point' }),
    field(t('plan.window_from'), f.window_from, { name: 'handover.window_from' }),
    field(t('plan.window_to'), f.window_to, { name: 'handover.window_to' }),
    f.escorts,
  ];
  const value = () => ({
    crossing_point: f.crossing_point.value,
    window_from: f.window_from.value,
    window_to: f.window_to.value,
    escorts: f.escorts.values(),
    receiving_service: p.receiving_service || null,
  });
  return { nodes, value };
}

let crossingNames = new Map();

function planView(hp) {
  const p = hp.plan;
  const place = (code) => crossingNames.get(code) || code;
  const status = hp.status === 'agreed' ? t('plan.status.agreed')
    : t('plan.status.proposed', { side: t(`side.${hp.proposed_by}`) });
  return h('div', {},
    h('p', {}, h('span', { class: `badge plan-${hp.status}` }, status)),
    dl([
      [t('plan.crossing_point'), place(p.crossing_point)],
      [t('plan.window_from'), day(p.window_from)],
      [t('plan.window_to'), day(p.window_to)],
      [t('plan.escorts'), many('escort_agency', p.escorts)],
      [t('plan.departed'), hp.departure ? `${when(hp.departure.at)} · ${place(hp.departure.crossing_point)}` : null],
      [t('plan.confirmed_sending'), hp.sending_confirmation ? when(hp.sending_confirmation.at) : null],
      [t('plan.confirmed_receiving'), hp.receiving_confirmation ? when(hp.receiving_confirmation.at) : null],
    ]),
    hp.mismatch ? h('p', { class: 'error', role: 'alert' }, t('plan.mismatch', { m: hp.mismatch })) : null);
}

/** The case screen. */
export async function casePageScreen(ctx, id) {
  const role = ctx.session.role;
  const full = role === 'caseworker' || role === 'supervisor';
  // `data-loads` counts the reloads (after each step): tests wait on it.
  const section = h('div', { class: 'case-page', 'data-loads': '0' });
  const notice = h('div', { 'aria-live': 'polite', id: 'case-notice' });

  async function reload(message, isError) {
    const [res, events, messages, reports, points] = await Promise.all([
      api.call('GET', `/cases/${id}`),
      api.get(`/cases/${id}/events`),
      full ? api.get(`/cases/${id}/messages`) : null,
      full ? api.get(`/cases/${id}/reports`).catch(() => null) : null,
      api.get('/crossing-points'),
    ]);
    crossingNames = new Map(points.items.map((x) => [x.code, x.name]));
    const c = res.data;
    const etag = res.etag;
    const mySide = c.direction === 'outgoing' ? 'sending' : 'receiving';
    mount(notice, message ? h('p', { class: isError ? 'error' : 'flash', role: isError ? 'alert' : 'status' }, message) : null);

    async function act(run) {
      try {
        await run(etag);
        const fresh = (await api.call('GET', `/cases/${id}`)).data;
        document.querySelector('main > .flash')?.remove();
        await reload(t('case.done', { state: label('case_state', fresh.state) }));
      } catch (p) {
        if (p.status === 412 || p.code === 'version_conflict' || p.code === 'precondition_failed') {
          await reload(t('case.conflict'), true);
        } else {
          return p;
        }
      }
      return null;
    }

    // The next steps.
    const panel = h('div', { class: 'action-panel' });
    function openAction(action) {
      const reasonList = REASONS[action];
      const inputs = [];
      let reason = null;
      let outcome = null;
      let plan = null;
      if (reasonList) {
        reason = select(options(reasonList), '', { blank: '' });
        inputs.push(field(t('case.reason'), reason, { name: 'reason_code' }));
      }
      if (action === 'close') {
        outcome = select(options('closure_outcome'), '', { blank: '' });
        inputs.push(field(t('case.outcome'), outcome, { name: 'outcome' }));
      }
      const comment = h('textarea', { rows: '2', maxlength: '2000' });
      if (full) inputs.push(field(t('case.comment'), comment, { name: 'comment' }));
      const status = h('p', { class: 'error', role: 'alert', hidden: true });
      const form = h('form', {
        class: 'card',
        onsubmit: async (e) => {
          e.preventDefault();
          const body = { action };
          if (reason) body.reason_code = reason.value || null;
          if (outcome) body.outcome = outcome.value || null;
          if (plan) body.handover = plan.value();
          if (full && comment.value.trim()) body.comment = comment.value.trim();
          const p = await act((tag) => api.call('POST', `/cases/${id}/transitions`, { body, etag: tag }));
          if (p) showProblem(status, p, form);
        },
      }, h('h3', {}, label('transition_action', action)), inputs, status,
      h('p', { class: 'actions' },
        h('button', { type: 'submit' }, t('confirm')), ' ',
        h('button', { type: 'button', class: 'secondary', onclick: () => mount(panel) }, t('cancel'))));
      if (action === 'schedule_handover') {
        planFields(null).then((pf) => { plan = pf; form.insertBefore(h('div', {}, pf.nodes), form.children[1]); });
      }
      mount(panel, form);
      form.querySelector('select, textarea, button')?.focus();
    }

    const actions = c.allowed_actions || [];
    const main = actions.filter((a) => !SECONDARY.has(a));
    const other = actions.filter((a) => SECONDARY.has(a));
    const stepButton = (a, cls) => h('button', { type: 'button', class: cls, 'data-action': a, onclick: () => openAction(a) }, label('transition_action', a));
    const steps = h('section', { class: 'card' }, h('h2', {}, t('case.actions')),
      actions.length || c.state === 'draft' ? null : h('p', {}, t('case.no_actions')),
      h('p', { class: 'actions' },
        main.map((a) => stepButton(a, 'primary')),
        c.state === 'draft' && full ? h('a', { class: 'button secondary', href: `#/cases/${id}/edit` }, t('case.edit')) : null,
        other.map((a) => stepButton(a, 'secondary'))),
      panel);

    // The handover plan and its negotiation.
    let planSection = null;
    if (c.handover_plan) {
      const hp = c.handover_plan;
      const mayNegotiate = role === 'liaison' || role === 'supervisor';
      const pending = hp.status === 'proposed' && hp.proposed_by !== mySide && mayNegotiate;
      const negotiate = h('div', {});
      planSection = h('section', { class: 'card' }, h('h2', {}, t('plan.title')), planView(hp),
        pending ? h('p', { class: 'actions' },
          h('button', {
            type: 'button', class: 'primary', 'data-plan': 'accept',
            onclick: async () => {
              const p = await act((tag) => api.call('POST', `/cases/${id}/handover/acceptance`, { etag: tag }));
              if (p) mount(negotiate, h('p', { class: 'error', role: 'alert' }, problemText(p)));
            },
          }, t('plan.accept')), ' ',
          h('button', {
            type: 'button', class: 'secondary', 'data-plan': 'counter',
            onclick: async () => {
              const pf = await planFields(hp.plan);
              const status = h('p', { class: 'error', role: 'alert', hidden: true });
              const form = h('form', {
                class: 'card plan-form',
                onsubmit: async (e) => {
                  e.preventDefault();
                  const p = await act((tag) => api.call('POST', `/cases/${id}/handover/counter-proposal`, { body: pf.value(), etag: tag }));
                  if (p) showProblem(status, p, form);
                },
              }, h('h3', {}, t('plan.counter')), pf.nodes, status, h('button', { type: 'submit' }, t('plan.send')));
              mount(negotiate, form);
            },
          }, t('plan.counter'))) : null,
        negotiate);
    }

    const header = h('header', { class: 'case-head' },
      h('h1', {}, t('case.title', { ref: c.reference })),
      h('p', {},
        h('span', { class: `badge state-${c.state}` }, label('case_state', c.state)),
        ' ', t(`direction.${c.direction}`), ' · ', t('case.counterpart'), ': ', t(`node.${c.counterpart_node}`),
        ' · ', t('case.opened'), ' ', when(c.created_at)),
      c.overdue ? h('p', { class: 'error', role: 'alert' }, t('case.overdue'), c.due_at ? ` ${t('case.due')}: ${when(c.due_at)}` : '') : null,
      c.erased_at ? h('p', { class: 'notice' }, t('case.erased', { t: when(c.erased_at) })) : null);

    const delivery = c.delivery ? h('section', { class: 'card delivery' }, h('h2', {}, t('case.delivery')),
      h('p', {}, ['pending', 'delivered', 'suspended', 'rejected'].filter((k) => c.delivery[k] > 0 || k === 'delivered')
        .map((k) => h('span', { class: `badge status-${k}` }, t(`case.delivery.${k}`, { n: c.delivery[k] })))),
      c.waiting_for_peer_since ? h('p', {}, t('case.waiting', { t: when(c.waiting_for_peer_since) })) : null) : null;

    const withdraw = full && !c.erased_at && c.identity !== undefined ? withdrawal(c, act) : null;

    mount(section,
      header,
      notice,
      steps,
      planSection,
      delivery,
      full && c.details ? detailsView(c.details) : null,
      full ? identityView(c.identity) : null,
      c.handover ? handoverEssentials(c.handover) : null,
      full ? reportsView(c, reports, mySide, act) : null,
      timelineView(events),
      messages ? messagesView(messages) : null,
      withdraw);
    section.dataset.loads = String(Number(section.dataset.loads) + 1);
  }
  await reload();
  return h('div', {}, section);
}

function withdrawal(c, act) {
  const box = h('div', {});
  const open = () => {
    const date = h('input', { type: 'date', value: today(), max: today() });
    const status = h('p', { class: 'error', role: 'alert', hidden: true });
    const form = h('form', {
      class: 'card danger',
      onsubmit: async (e) => {
        e.preventDefault();
        const p = await act(() => api.call('POST', `/cases/${c.id}/consent-withdrawal`, { body: { withdrawn_on: date.value } }));
        if (p) showProblem(status, p);
      },
    },
    h('h3', {}, t('case.withdraw_title')),
    h('p', {}, t('case.withdraw_explain')),
    field(t('case.withdraw_on'), date, { name: 'withdrawn_on' }),
    status,
    h('p', { class: 'actions' },
      h('button', { type: 'submit', class: 'danger' }, t('case.withdraw_confirm')), ' ',
      h('button', { type: 'button', class: 'secondary', onclick: () => mount(box, opener) }, t('cancel'))));
    mount(box, form);
    date.focus();
  };
  const opener = h('button', { type: 'button', class: 'secondary', onclick: open }, t('case.withdraw'));
  mount(box, opener);
  return h('section', { class: 'card' }, box);
}

function reportsView(c, reports, mySide, act) {
  const parts = [h('h2', {}, t('case.reports'))];
  const rep = reports?.repatriation || [];
  const fus = reports?.follow_ups || [];
  if (!rep.length && !fus.length) parts.push(h('p', {}, t('reports.none')));
  for (const r of rep.filter((x) => x.current)) {
    parts.push(h('h3', {}, t('reports.repatriation')), dl([
      [t('reports.family_tracing'), label('family_tracing_outcome', r.report.family_tracing)],
      [t('reports.family_assessment'), label('family_assessment', r.report.family_assessment)],
      [t('reports.return_plan'), label('return_plan', r.report.return_plan)],
      [t('reports.risk_level'), label('risk_level', r.report.risk_level)],
      [t('reports.travel_document_status'), label('travel_document_status', r.report.travel_document_status)],
    ]));
  }
  if (c.follow_ups && c.follow_ups.length) {
    parts.push(h('h3', {}, t('reports.schedule')), h('ul', {}, c.follow_ups.map((f) => h('li', {},
      `${t('reports.number')} ${f.number}: `,
      f.recorded_at ? `${t('reports.done')} (${label('follow_up_outcome', f.report?.outcome)})`
        : h('span', { class: f.overdue ? 'badge overdue' : '' }, t('reports.due_on', { d: day(f.due_on) }), f.overdue ? ` · ${t('reports.overdue')}` : '')))));
  }
  const receiving = mySide === 'receiving';
  if (receiving && ['handed_over', 'in_assistance'].includes(c.state)) parts.push(repatriationForm(c, act));
  if (receiving && c.state === 'reintegration_monitoring') parts.push(followUpForm(c, act));
  return h('section', { class: 'card' }, parts);
}

function repatriationForm(c, act) {
  const f = {
    family_tracing: select(options('family_tracing_outcome'), '', { blank: '' }),
    family_assessment: select(options('family_assessment'), '', { blank: '' }),
    return_plan: select(options('return_plan'), '', { blank: '' }),
    risk_level: select(options('risk_level'), '', { blank: '' }),
    travel_document_status: select(options('travel_document_status'), '', { blank: '' }),
  };
  const status = h('p', { class: 'error', role: 'alert', hidden: true });
  const form = h('form', {
    class: 'report-form',
    onsubmit: async (e) => {
      e.preventDefault();
      const body = Object.fromEntries(Object.entries(f).map(([k, v]) => [k, v.value || null]));
      const p = await act(() => api.call('POST', `/cases/${c.id}/repatriation`, { body }));
      if (p) showProblem(status, p, form);
    },
  }, h('h3', {}, t('reports.repatriation')),
  Object.entries(f).map(([k, v]) => field(t(`reports.${k}`), v, { name: k })),
  status, h('button', { type: 'submit' }, t('reports.record')));
  return form;
}

function followUpForm(c, act) {
  const next = (c.follow_ups || []).find((x) => !x.recorded_at);
  const number = h('input', { type: 'number', min: '1', max: '12', value: next ? next.number : 1 });
  const outcome = select(options('follow_up_outcome'), '', { blank: '' });
  const risk = select(options('risk_level'), '', { blank: '' });
  const services = checkboxes(t('reports.services'), options('service'), [], { name: 'services' });
  const status = h('p', { class: 'error', role: 'alert', hidden: true });
  const form = h('form', {
    class: 'report-form',
    onsubmit: async (e) => {
      e.preventDefault();
      const body = { number: Number(number.value), outcome: outcome.value, risk_level: risk.value || null, services: services.values() };
      const p = await act(() => api.call('POST', `/cases/${c.id}/follow-ups`, { body }));
      if (p) showProblem(status, p, form);
    },
  }, h('h3', {}, t('reports.follow_up')),
  field(t('reports.number'), number, { name: 'number' }),
  field(t('reports.outcome'), outcome, { name: 'outcome' }),
  field(t('reports.risk_level'), risk, { name: 'risk_level' }),
  services, status, h('button', { type: 'submit' }, t('reports.record')));
  return form;
}

function timelineView(events) {
  const who = (e) => {
    if (e.actor_kind === 'peer') return t('event.peer');
    if (e.actor_role) return t(`role.${e.actor_role}`);
    return t('event.system');
  };
  return h('section', { class: 'card' }, h('h2', {}, t('case.timeline')),
    h('ol', { class: 'timeline' }, events.items.map((e) => h('li', {},
      h('time', { datetime: e.at }, when(e.at)), ' — ',
      h('strong', {}, label('case_state', e.to_state)),
      e.reason_code ? ` (${e.reason_code})` : '',
      ' ', t('event.by', { who: who(e) }),
      e.comment ? h('p', { class: 'comment' }, e.comment) : null))));
}

function messagesView(messages) {
  return h('section', { class: 'card' }, h('h2', {}, t('case.messages')),
    scrollable(t('case.messages'), h('table', {},
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, t('case.msg.seq')),
        h('th', { scope: 'col' }, t('case.msg.type')),
        h('th', { scope: 'col' }, t('case.direction')),
        h('th', { scope: 'col' }, t('case.msg.at')),
        h('th', { scope: 'col' }, t('case.msg.status')))),
      h('tbody', {}, messages.items.map((m) => h('tr', {},
        h('td', {}, m.seq),
        h('td', {}, m.message_type_label),
        h('td', {}, t(`direction.${m.direction}`)),
        h('td', {}, when(m.at)),
        h('td', {}, h('span', { class: `badge status-${m.status}` }, t(`status.${m.status}`)))))))));
}
