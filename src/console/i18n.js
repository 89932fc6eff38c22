// French and English: every text the console shows, the API's code lists
// (states, actions, reasons...) in the chosen language, and dates and
// times for West Africa Time (Niamey and Abuja, UTC+1).

import en from './texts_en.js';
import fr from './texts_fr.js';

const TEXT = { en, fr };

let current = 'en';
let lists = new Map();
const missing = new Set();

/** The language the browser prefers, if French or English (else English). */
export function browserLanguage() {
  for (const l of navigator.languages || [navigator.language || 'en']) {
    const two = String(l).slice(0, 2).toLowerCase();
    if (two === 'fr' || two === 'en') return two;
  }
  return 'en';
}

export function lang() { return current; }

export function setLang(l) {
  current = l === 'fr' ? 'fr' : 'en';
  document.documentElement.lang = current;
}

/** A text in the current language, with {name} placeholders filled. */
export function t(key, vars = {}) {
  let s = TEXT[current][key];
  if (s === undefined) { missing.add(key); s = TEXT.en[key] ?? key; }
  return s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] === undefined ? `{${k}}` : String(vars[k])));
}

/** Keys missing from a language, and keys asked for but not found (tests read this). */
export function missingTexts() {
  const en = Object.keys(TEXT.en);
  const fr = Object.keys(TEXT.fr);
  return {
    fr: en.filter((k) => !(k in TEXT.fr)),
    en: fr.filter((k) => !(k in TEXT.en)),
    asked: [...missing],
  };
}

/** Keeps the API's code lists (each entry has `en` and `fr`). */
export function setCodeLists(all) {
  lists = new Map(all.map((l) => [l.id, l]));
}

/** The label of a code in a code list, in the current language. */
export function label(list, code) {
  if (code === null || code === undefined) return '';
  const e = lists.get(list)?.entries.find((x) => x.code === code);
  return e ? e[current] : code;
}

/** [code, label] pairs of a code list, in its order. */
export function options(list) {
  return (lists.get(list)?.entries || []).map((e) => [e.code, e[current]]);
}

const locale = () => (current === 'fr' ? 'fr-NE' : 'en-NG');

/** A moment, shown in West Africa Time. */
export function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const s = new Intl.DateTimeFormat(locale(), {
    timeZone: 'Africa/Lagos', dateStyle: 'medium', timeStyle: 'short',
  }).format(d);
  return `${s} ${t('wat')}`;
}

/** A calendar day (YYYY-MM-DD), shown in the current language. */
export function day(isoDate) {
  if (!isoDate) return '';
  const d = new Date(`${isoDate}T12:00:00Z`);
  if (Number.isNaN(d.getTime())) return isoDate;
  return new Intl.DateTimeFormat(locale(), { timeZone: 'Africa/Lagos', dateStyle: 'medium' }).format(d);
}

/** Today in West Africa Time, as YYYY-MM-DD. */
export function today(offsetDays = 0) {
  const d = new Date(Date.now() + 3600e3 + offsetDays * 86400e3);
  return d.toISOString().slice(0, 10);
}

/** What to tell the user about a Problem from the API. */
export function problemText(p) {
  if (!p || p.status === 0) return t('error.network');
  return p.title || t('error.title');
}
