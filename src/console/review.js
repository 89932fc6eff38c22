// The JTWG's review: statistics drawn as charts, the exchange log,
// reconciliation of the two nodes' logs and their checkpoints, each table
// downloadable as CSV from the API. No personal data reaches this screen:
// the API's review operations hold none.

import { h, pager, scrollable, showProblem } from './dom.js';
import * as api from './api.js';
import { t, label, when, lang } from './i18n.js';

const TABS = ['statistics', 'exchange', 'reconciliation', 'checkpoints'];

function csvLink(path, q, name) {
  const params = new URLSearchParams({ ...q, format: 'csv' });
  for (const [k, v] of [...params]) if (!v) params.delete(k);
  return h('a', { class: 'button secondary', href: `/api/v1${path}?${params}`, download: name }, t('review.csv'));
}

const number = (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1));

/** A horizontal bar chart of counts, suppressed cells shown as such. */
function bars(title, rows, keyLabel) {
  const max = Math.max(1, ...rows.map((r) => r.count || 0));
  const rowH = 30;
  const labelW = 300;
  const width = 660;
  const svg = h('svg:svg', {
    viewBox: `0 0 ${width} ${rows.length * rowH + 4}`, role: 'img', 'aria-label': title, class: 'chart',
  }, rows.map((r, i) => {
    const y = i * rowH + 2;
    const w = r.suppressed ? 0 : Math.round(((r.count || 0) / max) * (width - labelW - 90));
    return h('svg:g', {},
      h('svg:text', { x: labelW - 6, y: y + 20, 'text-anchor': 'end', class: 'chart-label' }, keyLabel(r.key)),
      h('svg:rect', { x: labelW, y: y + 4, width: Math.max(w, 0), height: rowH - 8, class: 'bar' }),
      h('svg:text', { x: labelW + w + 6, y: y + 20, class: 'chart-value' }, r.suppressed ? t('review.suppressed') : number(r.count)));
  }));
  const table = h('table', { class: 'sr-table' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('review.key')), h('th', { scope: 'col' }, t('review.count')))),
    h('tbody', {}, rows.map((r) => h('tr', {}, h('td', {}, keyLabel(r.key)), h('td', {}, r.suppressed ? t('review.suppressed') : number(r.count))))));
  return h('figure', { class: 'card' }, h('figcaption', {}, h('h2', {}, title)),
    rows.length ? [svg, h('details', {}, h('summary', {}, t('review.count')), table)] : h('p', {}, t('review.empty')));
}

function timings(rows) {
  const fmt = (v) => (v === null || v === undefined ? '' : v.toFixed(1));
  return h('section', { class: 'card' }, h('h2', {}, t('review.timings')),
    scrollable(t('review.timings'), h('table', {},
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, t('review.step')), h('th', { scope: 'col' }, t('review.count')),
        h('th', { scope: 'col' }, t('review.median')), h('th', { scope: 'col' }, t('review.p90')))),
      h('tbody', {}, rows.map((r) => h('tr', {},
        h('td', {}, t(`step.${r.step}`)),
        h('td', {}, r.suppressed ? t('review.suppressed') : r.count),
        h('td', {}, r.suppressed ? t('review.suppressed') : fmt(r.median_hours)),
        h('td', {}, r.suppressed ? t('review.suppressed') : fmt(r.p90_hours))))))));
}

/** A statistics key `direction/code` in words. */
const keyed = (list) => (key) => {
  const [dir, code] = key.includes('/') ? key.split('/') : [null, key];
  return dir ? `${t(`direction.${dir}`)} — ${label(list, code)}` : label(list, code);
};

/** `2026-11/outgoing` in words. */
const monthKey = (key) => {
  const [ym, dir] = key.split('/');
  const d = new Date(`${ym}-15T12:00:00Z`);
  const month = Number.isNaN(d.getTime()) ? ym
    : new Intl.DateTimeFormat(lang() === 'fr' ? 'fr-NE' : 'en-NG', { month: 'short', year: 'numeric', timeZone: 'UTC' }).format(d);
  return `${month} — ${t(`direction.${dir}`)}`;
};

/** The timings as bars of hours (median or 90th percentile). */
const timingRows = (rows, field) => rows.map((r) => ({ key: r.step, count: r[field] === null ? 0 : r[field], suppressed: r.suppressed }));

async function statistics(q) {
  const s = await api.get('/jtwg/statistics', q);
  return [
    h('p', { class: 'hint' }, t('review.suppressed_note', { n: s.min_cell_count })),
    h('p', {}, csvLink('/jtwg/statistics', q, 'statistics.csv')),
    h('div', { class: 'charts' },
      bars(t('review.by_month'), s.referrals_by_month, monthKey),
      bars(t('review.by_state'), s.referrals_by_state, keyed('case_state')),
      bars(t('review.by_type'), s.messages_by_type, keyed('message_type')),
      bars(t('review.overdue'), s.overdue_by_state, keyed('case_state')),
      bars(`${t('review.timings')} — ${t('review.median')}`, timingRows(s.timings, 'median_hours'), (k) => t(`step.${k}`)),
      bars(`${t('review.timings')} — ${t('review.p90')}`, timingRows(s.timings, 'p90_hours'), (k) => t(`step.${k}`))),
    timings(s.timings),
  ];
}

function table(label, headers, rows) {
  if (!rows.length) return h('p', {}, t('review.empty'));
  return scrollable(label, h('table', {},
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c ?? '')))))));
}

/** The exchange log, a page at a time: "more" appends the next page. */
async function exchange(q) {
  const log = await api.get('/jtwg/exchange', q);
  const row = (e) => [e.index, when(e.at), e.kind, e.direction, label('message_type', e.message_type), e.seq, e.outcome];
  const list = table(t('review.exchange'), [t('review.index'), t('review.at'), t('review.kind'), t('review.direction'), t('review.type'), t('review.seq'), t('review.outcome')],
    log.items.map(row));
  const more = pager(log.next_cursor, (cursor) => api.get('/jtwg/exchange', { ...q, cursor }),
    (items) => list.querySelector('tbody').append(...items.map((e) => h('tr', {}, row(e).map((c) => h('td', {}, c ?? ''))))));
  return [h('p', {}, csvLink('/jtwg/exchange', q, 'exchange.csv')), list, more];
}

/** The reconciliation report, a page at a time: "more" appends the next page. */
async function reconciliation(q) {
  const r = await api.get('/jtwg/reconciliation', q);
  const row = (x) => [x.seq, label('message_type', x.message_type), `${x.sender} → ${x.receiver}`, x.status];
  const list = table(t('review.reconciliation'), [t('review.seq'), t('review.type'), t('review.direction'), t('review.status')],
    r.rows.map(row));
  const more = pager(r.next_cursor,
    (cursor) => api.get('/jtwg/reconciliation', { ...q, cursor }).then((p) => ({ items: p.rows, next_cursor: p.next_cursor })),
    (rows) => list.querySelector('tbody').append(...rows.map((x) => h('tr', {}, row(x).map((c) => h('td', {}, c ?? ''))))));
  return [
    r.peer_reachable ? null : h('p', { class: 'error', role: 'alert' }, t('review.peer_unreachable')),
    h('p', {}, Object.entries(r.counts).map(([k, n]) => h('span', { class: `badge recon-${k}` }, `${k}: ${n}`))),
    h('p', {}, csvLink('/jtwg/reconciliation', q, 'reconciliation.csv')),
    list,
    more,
  ];
}

/** The watch over the other node's log; an administrator acknowledges a mismatch here. */
async function watchCard(ctx, reload) {
  const w = await api.get('/audit/watch');
  const s = w.suspension;
  const status = h('p', { role: 'status', hidden: true });
  const acknowledge = s && ctx.session.role === 'admin'
    ? h('button', {
      type: 'button',
      'data-action': 'acknowledge',
      onclick: () => api.call('POST', '/audit/watch/acknowledge').then(reload, (p) => showProblem(status, p)),
    }, t('review.acknowledge'))
    : null;
  return h('section', { class: 'card', id: 'audit-watch' },
    h('h2', {}, t('review.watch')),
    s
      ? h('p', { class: 'error', role: 'alert' },
        t('review.watch_suspended', { i: s.index, p: t(`review.problem_${s.problem}`), t: when(s.since) }))
      : h('p', { class: 'flash' },
        t('review.watch_active', { passes: w.passes, n: w.witnessed, next: w.next_index })),
    acknowledge, status);
}

/** Both logs' checkpoints, newest first, a page at a time ("more" appends the next). */
async function checkpoints(q, ctx, reload) {
  const query = { ...q, order: 'newest', limit: 200 };
  const [c, ...logs] = await Promise.all([api.get('/jtwg/checkpoints', query),
    ...['own', 'peer'].map((log) => api.get('/jtwg/checkpoints', { ...query, log }))]);
  const latest = new Map();
  const cosigned = new Map();
  for (const l of logs) {
    if (l.items.length) latest.set(l.items[0].origin, l.items[0]);
    const x = l.items.find((i) => i.cosigned_by.length);
    if (x) cosigned.set(x.origin, x);
  }
  const row = (x) => [x.origin, x.size, when(x.signed_at), x.cosigned_by.length ? x.cosigned_by.join(', ') : t('review.not_cosigned'), x.root.slice(0, 16)];
  const list = table(t('review.checkpoints'), [t('review.origin'), t('review.size'), t('review.signed_at'), t('review.cosigned_by'), t('review.root')],
    c.items.map(row));
  const more = pager(c.next_cursor, (cursor) => api.get('/jtwg/checkpoints', { ...query, cursor }),
    (items) => list.querySelector('tbody').append(...items.map((x) => h('tr', {}, row(x).map((v) => h('td', {}, v ?? ''))))));
  return [
    await watchCard(ctx, reload),
    h('div', { class: 'charts' }, [...latest.values()].map((x) => h('section', { class: 'card' },
      h('h2', {}, x.origin),
      h('p', {}, t('review.latest', { n: x.size, t: when(x.signed_at) })),
      h('p', { class: cosigned.get(x.origin)?.size === x.size ? 'flash' : 'notice' },
        t('review.cosigned_upto', { n: cosigned.get(x.origin)?.size ?? 0, m: x.size }))))),
    h('p', {}, csvLink('/jtwg/checkpoints', q, 'checkpoints.csv')),
    list,
    more,
  ];
}

const VIEWS = { statistics, exchange, reconciliation, checkpoints };

export async function reviewScreen(ctx, tab) {
  const current = TABS.includes(tab) ? tab : 'statistics';
  const from = h('input', { type: 'date', id: 'review-from' });
  const to = h('input', { type: 'date', id: 'review-to' });
  const out = h('div', { 'aria-live': 'polite' });
  const q = () => ({ from: from.value || undefined, to: to.value || undefined });
  const show = async () => {
    out.replaceChildren(h('p', { class: 'loading' }, t('loading')));
    out.replaceChildren(...(await VIEWS[current](q(), ctx, show)).filter(Boolean));
  };
  const tabs = h('nav', { 'aria-label': t('review.title'), class: 'tabs' }, h('ul', {}, TABS.map((x) => h('li', {},
    h('a', { href: `#/review/${x}`, 'aria-current': x === current ? 'page' : null }, t(`review.${x}`))))));
  const form = h('form', { class: 'filters', onsubmit: (e) => { e.preventDefault(); show(); } },
    h('div', { class: 'field' }, h('label', { for: from.id }, t('review.from')), from),
    h('div', { class: 'field' }, h('label', { for: to.id }, t('review.to')), to),
    h('button', { type: 'submit' }, t('review.apply')));
  await show();
  return h('section', {}, h('h1', {}, `${t('review.title')} — ${t(`review.${current}`)}`), tabs, form, out);
}
