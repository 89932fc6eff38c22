// The liaisons' board: every open handover by stage, one card each, built
// for a phone held in one hand (a card opens the case's handover screen).

import { h } from './dom.js';
import * as api from './api.js';
import { t, label, day, when } from './i18n.js';

const STAGES = ['mismatch', 'overdue', 'to_plan', 'proposed', 'planned', 'in_transit', 'awaiting_other'];

function stage(item) {
  const mine = item.direction === 'outgoing' ? 'sending' : 'receiving';
  const confirmed = mine === 'sending' ? item.sending_confirmation : item.receiving_confirmation;
  if (item.mismatch) return 'mismatch';
  if (item.overdue) return 'overdue';
  if (!item.plan) return 'to_plan';
  if (item.plan_status === 'proposed') return 'proposed';
  if (item.state === 'in_transit') return confirmed ? 'awaiting_other' : 'in_transit';
  return 'planned';
}

function card(item) {
  const p = item.plan;
  return h('li', { class: 'board-card' },
    h('a', { href: `#/cases/${item.case_id}` },
      h('strong', {}, item.reference),
      h('span', { class: `badge state-${item.state}` }, label('case_state', item.state)),
      p ? h('span', {}, `${p.crossing_point} · ${t('board.window', { from: day(p.window_from), to: day(p.window_to) })}`) : null,
      item.plan_status === 'proposed' && item.proposed_by ? h('span', {}, t('plan.status.proposed', { side: t(`side.${item.proposed_by}`) })) : null,
      item.departure ? h('span', {}, `${t('plan.departed')}: ${when(item.departure.at)}`) : null,
      item.due_at ? h('span', { class: item.overdue ? 'badge overdue' : '' }, `${t('case.due')}: ${when(item.due_at)}`) : null,
      item.mismatch ? h('span', { class: 'error' }, t('plan.mismatch', { m: item.mismatch })) : null));
}

/** Every open handover, page after page (the board is work in progress, not history). */
async function wholeBoard() {
  const items = [];
  let cursor;
  do {
    const page = await api.get('/handovers', { limit: 500, cursor });
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

export async function boardScreen() {
  const items = await wholeBoard();
  const groups = new Map(STAGES.map((s) => [s, []]));
  for (const item of items) groups.get(stage(item)).push(item);
  const sections = STAGES.filter((s) => groups.get(s).length).map((s) => h('section', { class: `stage stage-${s}` },
    h('h2', {}, `${t(`board.${s}`)} (${groups.get(s).length})`),
    h('ul', { class: 'cards' }, groups.get(s).map(card))));
  return h('section', { class: 'board' }, h('h1', {}, t('board.title')),
    sections.length ? sections : h('p', {}, t('board.empty')));
}
