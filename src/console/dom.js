// Building the page: elements from plain calls, no HTML strings (so no
// injection), and the small form helpers every screen uses.

import { problemText, t } from './i18n.js';

/** An element: h('a', {href: '#/cases', class: 'x', onclick: fn}, child, ...). */
export function h(tag, attrs, ...children) {
  const svg = tag.startsWith('svg:');
  const el = svg
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
    : document.createElement(tag);
  let value;
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'value') value = v;
    else if (k === 'checked') el.checked = true;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  if (value !== undefined) el.value = value;
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

/** Replaces an element's content. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** A region that scrolls sideways on a narrow screen, reachable by keyboard. */
export function scrollable(label, child) {
  return h('div', { class: 'scroll', tabindex: '0', role: 'region', 'aria-label': label }, child);
}

let ids = 0;
/** A fresh element id. */
export function uid(prefix = 'f') {
  ids += 1;
  return `${prefix}-${ids}`;
}

/**
 * A labelled form field. `name` is the API field path (`details.sex`):
 * field errors from the API are shown under the field that has it.
 */
export function field(label, control, { hint, name } = {}) {
  const id = control.id || uid();
  control.id = id;
  if (name) control.dataset.field = name;
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hintEl,
    h('p', { class: 'field-error', id: `${id}-error`, hidden: true }));
}

/** A group of checkboxes (a multi-select) with a legend. */
export function checkboxes(legend, options, selected = [], { name } = {}) {
  const set = new Set(selected);
  const fs = h('fieldset', { class: 'checks', 'data-field': name },
    h('legend', {}, legend),
    options.map(([code, label]) => {
      const id = uid('c');
      return h('span', { class: 'check' },
        h('input', { type: 'checkbox', id, value: code, checked: set.has(code) }),
        h('label', { for: id }, label));
    }),
    h('p', { class: 'field-error', hidden: true }));
  fs.values = () => [...fs.querySelectorAll('input:checked')].map((i) => i.value);
  return fs;
}

/** A select of code-list entries; `blank` adds an empty first choice. */
export function select(options, value, { blank } = {}) {
  return h('select', { value: value ?? '' },
    blank !== undefined ? h('option', { value: '' }, blank) : null,
    options.map(([code, label]) => h('option', { value: code }, label)));
}

/** Shows what the API refused in a status line (its problem, translated) and, given the form, each field error next to its field. */
export function showProblem(status, problem, form) {
  status.textContent = problemText(problem);
  status.className = 'error';
  status.hidden = false;
  if (form) showFieldErrors(form, problem);
}

/** Shows the API's field errors next to their fields, and a summary. */
export function showFieldErrors(form, problem) {
  for (const p of form.querySelectorAll('.field-error')) { p.hidden = true; p.textContent = ''; }
  for (const c of form.querySelectorAll('[aria-invalid]')) c.removeAttribute('aria-invalid');
  let first = null;
  for (const e of problem.errors || []) {
    const target = [...form.querySelectorAll('[data-field]')]
      .find((c) => c.dataset.field === e.field || e.field.startsWith(`${c.dataset.field}[`));
    if (!target) continue;
    const box = target.tagName === 'FIELDSET' ? target : target.closest('.field');
    const msg = box && box.querySelector('.field-error');
    if (msg) { msg.textContent = e.message; msg.hidden = false; }
    target.setAttribute('aria-invalid', 'true');
    first = first || target;
  }
  if (first) first.focus();
}

/**
 * A "more" button under a paged list: it loads the page after `cursor`
 * (`load(cursor)` → `{ items, next_cursor }`), hands its items to `append`,
 * and goes on until the last page.
 */
export function pager(cursor, load, append) {
  const more = h('p', { class: 'more' });
  const offer = (next) => {
    more.replaceChildren(...(next ? [h('button', {
      type: 'button',
      class: 'secondary',
      onclick: async () => {
        const page = await load(next);
        append(page.items);
        offer(page.next_cursor);
      },
    }, t('more'))] : []));
  };
  offer(cursor);
  return more;
}
