// The case list (filters, search, pages) and the supervisors' decisions.

import { h, mount, field, select, scrollable } from './dom.js';
import * as api from './api.js';
import { t, label, options, when } from './i18n.js';

function stateBadge(c) {
  return h('span', { class: `badge state-${c.state}` }, label('case_state', c.state) || c.state_label);
}

function caseRow(c) {
  return h('tr', {},
    h('td', {}, h('a', { href: `#/cases/${c.id}` }, c.reference)),
    h('td', {}, t(`direction.${c.direction}`)),
    h('td', {}, stateBadge(c), c.overdue ? h('span', { class: 'badge overdue' }, t('cases.overdue')) : null),
    h('td', {}, when(c.state_changed_at)));
}

function caseTable(items) {
  return scrollable(t('cases.title'), h('table', {},
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, t('cases.reference')),
      h('th', { scope: 'col' }, t('cases.direction')),
      h('th', { scope: 'col' }, t('cases.state')),
      h('th', { scope: 'col' }, t('cases.updated')))),
    h('tbody', {}, items.map(caseRow))));
}

const REFERENCE = /^[A-Z]{2}-\d{4}-[A-Z0-9]{6}$/;

/** The case list, with its filters in the address (#/cases?state=...). */
export async function casesScreen() {
  const state = select(options('case_state'), '', { blank: t('cases.any') });
  const direction = select([['outgoing', t('direction.outgoing')], ['incoming', t('direction.incoming')]], '', { blank: t('cases.any') });
  const overdue = h('input', { type: 'checkbox' });
  const search = h('input', { type: 'search', autocomplete: 'off' });
  const results = h('div', { 'aria-live': 'polite' });

  async function load(cursor, append) {
    const q = { state: state.value, direction: direction.value, overdue: overdue.checked || undefined, cursor, limit: 50 };
    const s = search.value.trim();
    if (s) { if (REFERENCE.test(s.toUpperCase())) q.reference = s.toUpperCase(); else q.name = s; }
    const page = await api.get('/cases', q);
    const rows = page.items;
    if (!append) {
      if (!rows.length) { mount(results, h('p', {}, t('cases.empty'))); return; }
      mount(results, caseTable(rows));
    } else {
      results.querySelector('tbody').append(...rows.map(caseRow));
      results.querySelector('.more')?.remove();
    }
    if (page.next_cursor) {
      results.append(h('p', { class: 'more' }, h('button', { type: 'button', class: 'secondary', onclick: () => load(page.next_cursor, true) }, t('more'))));
    }
  }

  const form = h('form', {
    class: 'filters',
    role: 'search',
    onsubmit: (e) => { e.preventDefault(); load(); },
  },
  field(t('cases.search'), search),
  field(t('cases.state'), state),
  field(t('cases.direction'), direction),
  h('div', { class: 'field inline' }, overdue, h('label', { for: (overdue.id = 'overdue-only') }, t('cases.overdue_only'))),
  h('button', { type: 'submit' }, t('cases.apply')));
  await load();
  return h('section', {}, h('h1', {}, t('cases.title')), form, results);
}

/** What supervisors decide: approvals, incoming referrals, information requests. */
export async function approvalsScreen() {
  const [submitted, received, info] = await Promise.all([
    api.get('/cases', { state: 'submitted', limit: 100 }),
    api.get('/cases', { state: 'received', limit: 100 }),
    api.get('/cases', { state: 'info_requested', limit: 100 }),
  ]);
  const part = (title, page) => h('section', { class: 'card' }, h('h2', {}, title),
    page.items.length ? caseTable(page.items) : h('p', {}, t('approvals.empty')));
  return h('div', {},
    h('h1', {}, t('approvals.title')),
    part(t('approvals.to_approve'), submitted),
    part(t('approvals.incoming'), received),
    part(t('approvals.info'), info));
}
