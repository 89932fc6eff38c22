// The console's shell: sign-in, the language, the navigation each role
// has, and the router (#/path). Screens live in their own modules.

import { h, mount, field, showFieldErrors } from './dom.js';
import * as api from './api.js';
import { t, setLang, lang, browserLanguage, setCodeLists, missingTexts, problemText } from './i18n.js';
import { casesScreen, approvalsScreen } from './cases.js';
import { caseFormScreen } from './case_form.js';
import { casePageScreen } from './case_page.js';
import { boardScreen } from './handovers.js';
import { reviewScreen } from './review.js';
import { usersScreen, messagesScreen, alertsScreen, crossingsScreen, directoryScreen } from './admin.js';

const CW = 'caseworker';
const SUP = 'supervisor';
const LIA = 'liaison';
const JTWG = 'jtwg_reviewer';
const ADM = 'admin';
const ALL = [CW, SUP, LIA, JTWG, ADM];

/** Every screen: its path, who may see it, its menu entry. */
const ROUTES = [
  { path: /^cases$/, roles: [CW, SUP], nav: 'nav.cases', href: 'cases', view: casesScreen },
  { path: /^cases\/new$/, roles: [CW, SUP], nav: 'nav.new_case', href: 'cases/new', view: (ctx) => caseFormScreen(ctx, null) },
  { path: /^cases\/([\w-]+)\/edit$/, roles: [CW, SUP], view: (ctx, m) => caseFormScreen(ctx, m[1]) },
  { path: /^cases\/([\w-]+)$/, roles: [CW, SUP, LIA], view: (ctx, m) => casePageScreen(ctx, m[1]) },
  { path: /^decisions$/, href: 'decisions', roles: [SUP], nav: 'nav.approvals', view: approvalsScreen },
  { path: /^handovers$/, href: 'handovers', roles: [LIA, SUP, CW], nav: 'nav.handovers', view: boardScreen },
  { path: /^review(?:\/(\w+))?$/, href: 'review', roles: [JTWG, ADM], nav: 'nav.review', view: (ctx, m) => reviewScreen(ctx, m[1]) },
  { path: /^admin\/users$/, href: 'admin/users', roles: [ADM], nav: 'nav.users', view: usersScreen },
  { path: /^admin\/messages$/, href: 'admin/messages', roles: [ADM], nav: 'nav.messages', view: messagesScreen },
  { path: /^admin\/alerts$/, href: 'admin/alerts', roles: [ADM], nav: 'nav.alerts', view: alertsScreen },
  { path: /^admin\/crossings$/, href: 'admin/crossings', roles: [ADM], nav: 'nav.crossings', view: crossingsScreen },
  { path: /^admin\/directory$/, href: 'admin/directory', roles: [ADM, SUP], nav: 'nav.directory', view: directoryScreen },
  { path: /^account$/, href: 'account', roles: ALL, nav: 'nav.account', view: accountScreen },
];

/** Where each role lands after signing in. */
const HOME = { [CW]: 'cases', [SUP]: 'decisions', [LIA]: 'handovers', [JTWG]: 'review', [ADM]: 'admin/users' };

const root = document.getElementById('app');
const ctx = { session: null, flash: null, rerender: () => route() };
window.__passerelle = { missingTexts };

function currentPath() {
  return decodeURIComponent(location.hash.replace(/^#\/?/, ''));
}

export function go(path) {
  if (currentPath() === path) route(); else location.hash = `#/${path}`;
}
ctx.go = go;

async function switchLanguage() {
  delete root.dataset.ready;
  const next = lang() === 'fr' ? 'en' : 'fr';
  setLang(next);
  api.setLanguage(next);
  try { localStorage.setItem('passerelle.lang', next); } catch { /* private mode */ }
  if (ctx.session) {
    ctx.session.language = next;
    try { await api.call('PUT', '/me/language', { body: { language: next } }); } catch { /* kept locally */ }
    await loadCodeLists();
    route();
  } else {
    signInScreen();
  }
}

function langButton() {
  return h('button', {
    type: 'button', class: 'link lang', lang: lang() === 'fr' ? 'en' : 'fr',
    'aria-label': t('lang.switch_label'), onclick: switchLanguage,
  }, t('lang.switch'));
}

async function loadCodeLists() {
  const lists = await api.get('/code-lists');
  setCodeLists(lists.lists);
}

function signInScreen(message) {
  delete root.dataset.ready;
  document.title = `${t('signin.title')} — Passerelle`;
  const user = h('input', { name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const pass = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const status = h('p', { class: 'error', role: 'alert', hidden: !message }, message || '');
  const button = h('button', { type: 'submit' }, t('signin.submit'));
  const form = h('form', {
    class: 'signin card',
    onsubmit: async (e) => {
      e.preventDefault();
      button.disabled = true;
      status.hidden = true;
      try {
        const { data } = await api.call('POST', '/session', { body: { username: user.value.trim(), password: pass.value } });
        await startSession(data);
        location.hash = `#/${HOME[data.role]}`;
        route();
      } catch (p) {
        status.textContent = signInError(p);
        status.hidden = false;
        pass.value = '';
        pass.focus();
      } finally {
        button.disabled = false;
      }
    },
  },
  h('h1', {}, t('signin.title')),
  field(t('signin.username'), user),
  field(t('signin.password'), pass),
  status,
  button);
  mount(root,
    h('header', { class: 'top' }, h('span', { class: 'brand' }, 'Passerelle'), langButton()),
    h('main', { id: 'main' }, form));
  user.focus();
}

function signInError(p) {
  if (p.code === 'sign_in_throttled') return t('signin.wait', { s: retryAfter(p) });
  if (p.code === 'account_locked') return t('signin.locked', { m: Math.max(1, Math.ceil(retryAfter(p) / 60)) });
  if (p.code === 'invalid_credentials') return t('signin.wrong');
  return p.status === 0 ? t('error.network') : p.title;
}

function retryAfter(p) {
  return p.retryAfter || 1;
}

async function startSession(session) {
  ctx.session = session;
  api.setCsrf(session.csrf_token);
  if (session.language) {
    setLang(session.language);
  } else {
    // First sign-in: keep what the browser (or the sign-in page) chose.
    try { await api.call('PUT', '/me/language', { body: { language: lang() } }); } catch { /* later */ }
    session.language = lang();
  }
  api.setLanguage(lang());
  await loadCodeLists();
}

async function signOut(everywhere) {
  try { await api.call('DELETE', everywhere ? '/sessions' : '/session'); } catch { /* gone already */ }
  ctx.session = null;
  api.setCsrf(null);
  location.hash = '#/';
  signInScreen();
}

function shell(active, content) {
  const s = ctx.session;
  const links = ROUTES.filter((r) => r.nav && r.roles.includes(s.role))
    .map((r) => h('li', {}, h('a', { href: `#/${r.href}`, 'aria-current': active === r ? 'page' : null }, t(r.nav))));
  return [
    h('a', { class: 'skip', href: '#main', onclick: (e) => { e.preventDefault(); document.getElementById('main').focus(); } }, t('app.skip')),
    h('header', { class: 'top' },
      h('span', { class: 'brand' }, 'Passerelle'),
      h('span', { class: 'who' }, `${s.display_name} · ${t(`role.${s.role}`)} · ${t(`node.${s.node}`)}`),
      langButton(),
      h('button', { type: 'button', class: 'link', onclick: () => signOut(false) }, t('signout'))),
    h('nav', { class: 'main-nav', 'aria-label': t('nav.label') }, h('ul', {}, links)),
    h('main', { id: 'main', tabindex: '-1' }, ctx.flash ? h('p', { class: 'flash', role: 'status' }, ctx.flash) : null, content),
  ];
}

let routing = 0;

/** Shows the screen the address names; `#app[data-ready]` names it once it is shown (tests wait on it). */
async function route() {
  if (!ctx.session) return;
  routing += 1;
  const mine = routing;
  delete root.dataset.ready;
  const ready = (path) => { if (mine === routing) root.dataset.ready = path; };
  const path = currentPath() || HOME[ctx.session.role];
  let match = null;
  const r = ROUTES.find((x) => (match = x.path.exec(path)));
  let content;
  if (!r) {
    content = h('section', {}, h('h1', {}, t('notfound.title')));
  } else if (!r.roles.includes(ctx.session.role)) {
    content = h('section', {}, h('h1', {}, t('forbidden.title')), h('p', {}, t('forbidden.body')));
  } else {
    content = h('div', { class: 'screen' }, h('p', { class: 'loading' }, t('loading')));
    const view = r.view(ctx, match);
    mount(root, ...shell(r, content));
    ctx.flash = null;
    try {
      const node = await view;
      mount(content, node);
    } catch (p) {
      mount(content, h('section', {}, h('h1', {}, t('error.title')), h('p', { class: 'error', role: 'alert' }, problemMessage(p))));
    }
    ready(path);
    return;
  }
  mount(root, ...shell(r, content));
  ready(path);
}

function problemMessage(p) {
  if (p instanceof api.Problem) return problemText(p);
  return String(p && p.message ? p.message : p);
}

function accountScreen() {
  const current = h('input', { type: 'password', autocomplete: 'current-password', required: true });
  const next = h('input', { type: 'password', autocomplete: 'new-password', required: true, minlength: '12' });
  const status = h('p', { role: 'status' });
  const form = h('form', {
    class: 'card',
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        await api.call('PUT', '/me/password', { body: { current_password: current.value, new_password: next.value } });
        status.textContent = t('account.changed');
        current.value = ''; next.value = '';
      } catch (p) {
        status.textContent = problemMessage(p);
        showFieldErrors(form, p);
      }
    },
  },
  h('h2', {}, t('account.password')),
  field(t('account.current'), current, { name: 'current_password' }),
  field(t('account.new'), next, { name: 'new_password' }),
  h('button', { type: 'submit' }, t('save')),
  status);
  return h('section', {},
    h('h1', {}, t('account.title')),
    h('p', {}, `${ctx.session.display_name} (${ctx.session.username}) · ${t(`role.${ctx.session.role}`)} · ${ctx.session.agency}`),
    form,
    h('p', {}, h('button', { type: 'button', class: 'secondary', onclick: () => signOut(true) }, t('signout.everywhere'))));
}

async function boot() {
  let chosen = null;
  try { chosen = localStorage.getItem('passerelle.lang'); } catch { /* private mode */ }
  setLang(chosen || browserLanguage());
  api.setLanguage(lang());
  api.whenSignedOut(() => {
    if (!ctx.session) return;
    ctx.session = null;
    api.setCsrf(null);
    signInScreen(t('signin.expired'));
  });
  try {
    const { data } = await api.call('GET', '/session');
    await startSession(data);
    window.addEventListener('hashchange', route);
    route();
  } catch {
    window.addEventListener('hashchange', route);
    signInScreen();
  }
}

boot();
