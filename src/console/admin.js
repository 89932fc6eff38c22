// Administration: accounts and roles, the messages exchanged with the
// other node (retry a suspended one), alerts, crossing points and this
// side's directory (shelter places).

import { h, mount, field, pager, select, showProblem, scrollable } from './dom.js';
import * as api from './api.js';
import { t, when, options } from './i18n.js';

const ROLES = ['caseworker', 'supervisor', 'liaison', 'jtwg_reviewer', 'admin'];

function table(label, headers, rows) {
  return scrollable(label, h('table', {},
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, rows)));
}

function errorOf(status, form) {
  return (p) => showProblem(status, p, form);
}

export async function usersScreen(ctx) {
  const list = await api.get('/users');
  const status = h('p', { role: 'status' });
  const say = (text) => { status.textContent = text; status.className = 'flash'; };

  const rows = list.items.map((u) => {
    const role = select(ROLES.map((r) => [r, t(`role.${r}`)]), u.role);
    role.setAttribute('aria-label', `${t('admin.role')} — ${u.username}`);
    role.addEventListener('change', () => api.call('PATCH', `/users/${u.id}`, { body: { role: role.value } })
      .then(() => say(t('saved')), errorOf(status)));
    const reset = () => {
      const pw = h('input', { type: 'password', autocomplete: 'new-password', minlength: '12' });
      const box = h('form', {
        class: 'inline-form',
        onsubmit: (e) => {
          e.preventDefault();
          api.call('PUT', `/users/${u.id}/password`, { body: { new_password: pw.value } })
            .then(() => { say(t('saved')); box.remove(); }, errorOf(status, box));
        },
      }, field(t('admin.new_password', { u: u.username }), pw, { name: 'new_password' }), h('button', { type: 'submit' }, t('save')));
      row.after(h('tr', {}, h('td', { colspan: '5' }, box)));
      pw.focus();
    };
    const row = h('tr', {},
      h('td', {}, h('strong', {}, u.username), h('br'), u.display_name),
      h('td', {}, role),
      h('td', {}, u.disabled ? t('admin.disabled') : t('admin.active')),
      h('td', {}, when(u.created_at)),
      h('td', { class: 'actions' },
        h('button', {
          type: 'button', class: 'secondary',
          onclick: () => api.call('PATCH', `/users/${u.id}`, { body: { disabled: !u.disabled } }).then(() => ctx.rerender(), errorOf(status)),
        }, u.disabled ? t('admin.enable') : t('admin.disable')),
        h('button', { type: 'button', class: 'secondary', onclick: reset }, t('admin.reset')),
        h('button', {
          type: 'button', class: 'secondary',
          onclick: () => api.call('DELETE', `/users/${u.id}/credentials`)
            .then((r) => say(t('admin.revoked', { t: r.data.tokens_revoked, s: r.data.sessions_ended })), errorOf(status)),
        }, t('admin.revoke'))));
    return row;
  });

  const f = {
    username: h('input', { autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false' }),
    display_name: h('input', { autocomplete: 'off' }),
    role: select(ROLES.map((r) => [r, t(`role.${r}`)]), 'caseworker'),
    password: h('input', { type: 'password', autocomplete: 'new-password' }),
  };
  const createStatus = h('p', { role: 'status' });
  const form = h('form', {
    class: 'card',
    onsubmit: (e) => {
      e.preventDefault();
      const body = { username: f.username.value.trim(), display_name: f.display_name.value.trim(), role: f.role.value, password: f.password.value };
      api.call('POST', '/users', { body }).then(() => { ctx.flash = t('saved'); ctx.rerender(); }, errorOf(createStatus, form));
    },
  }, h('h2', {}, t('admin.new_user')),
  field(t('admin.username'), f.username, { name: 'username' }),
  field(t('admin.display_name'), f.display_name, { name: 'display_name' }),
  field(t('admin.role'), f.role, { name: 'role' }),
  field(t('admin.first_password'), f.password, { name: 'password' }),
  createStatus,
  h('button', { type: 'submit' }, t('admin.create')));

  return h('section', {}, h('h1', {}, t('admin.users')), status,
    table(t('admin.users'), [t('admin.username'), t('admin.role'), t('admin.status'), t('case.opened'), ''], rows), form);
}

export async function messagesScreen() {
  const status = h('p', { role: 'status' });
  const filter = select(['pending', 'delivered', 'suspended', 'rejected'].map((s) => [s, t(`status.${s}`)]), 'suspended', { blank: t('cases.any') });
  const out = h('div', {});
  const row = (m) => h('tr', {},
    h('td', {}, m.seq), h('td', {}, m.message_type_label), h('td', {}, t(`direction.${m.direction}`)),
    h('td', {}, when(m.at)),
    h('td', {}, h('span', { class: `badge status-${m.status}` }, t(`status.${m.status}`)), m.last_error ? h('br') : null, m.last_error || ''),
    h('td', {}, m.status === 'suspended' ? h('button', {
      type: 'button',
      onclick: () => api.call('POST', `/admin/messages/${m.message_id}/retry`).then(() => { status.textContent = t('admin.retried'); show(); }, errorOf(status)),
    }, t('admin.retry')) : null));
  async function show() {
    const q = { status: filter.value || undefined, limit: 200 };
    const list = await api.get('/admin/messages', q);
    mount(out, table(t('admin.messages'), [t('case.msg.seq'), t('case.msg.type'), t('case.direction'), t('case.msg.at'), t('admin.status'), ''],
      list.items.map(row)),
    pager(list.next_cursor, (cursor) => api.get('/admin/messages', { ...q, cursor }),
      (items) => out.querySelector('tbody').append(...items.map(row))));
  }
  filter.addEventListener('change', show);
  await show();
  return h('section', {}, h('h1', {}, t('admin.messages')), field(t('admin.status'), filter), status, out);
}

/** The alerts, newest first; "more" appends older pages. */
export async function alertsScreen() {
  const list = await api.get('/admin/alerts');
  const item = (a) => h('li', {}, h('time', { datetime: a.at }, when(a.at)), ' — ', h('strong', {}, a.kind), ': ', a.detail);
  if (!list.items.length) return h('section', {}, h('h1', {}, t('admin.alerts')), h('p', {}, t('none')));
  const ul = h('ul', { class: 'alerts' }, list.items.map(item));
  const more = pager(list.next_cursor, (cursor) => api.get('/admin/alerts', { cursor }), (items) => ul.append(...items.map(item)));
  return h('section', {}, h('h1', {}, t('admin.alerts')), ul, more);
}

export async function crossingsScreen(ctx) {
  const list = await api.get('/crossing-points');
  const f = {
    code: h('input', { autocomplete: 'off', pattern: '[a-z0-9_]+' }),
    name_en: h('input', { autocomplete: 'off' }),
    name_fr: h('input', { autocomplete: 'off' }),
    active: h('input', { type: 'checkbox', checked: true, id: 'point-active' }),
  };
  const edit = (p) => { f.code.value = p.code; f.name_en.value = p.name_en; f.name_fr.value = p.name_fr; f.active.checked = p.active; f.name_en.focus(); };
  const status = h('p', { role: 'status' });
  const form = h('form', {
    class: 'card',
    onsubmit: (e) => {
      e.preventDefault();
      api.call('PUT', `/crossing-points/${encodeURIComponent(f.code.value.trim())}`, { body: { name_en: f.name_en.value.trim(), name_fr: f.name_fr.value.trim(), active: f.active.checked } })
        .then(() => { ctx.flash = t('saved'); ctx.rerender(); }, errorOf(status, form));
    },
  }, field(t('admin.code'), f.code, { name: 'code' }), field(t('admin.name_en'), f.name_en, { name: 'name_en' }),
  field(t('admin.name_fr'), f.name_fr, { name: 'name_fr' }),
  h('div', { class: 'field inline' }, f.active, h('label', { for: 'point-active' }, t('admin.active_point'))),
  status, h('button', { type: 'submit' }, t('admin.save_point')));
  return h('section', {}, h('h1', {}, t('admin.crossings')),
    table(t('admin.crossings'), [t('admin.code'), t('admin.name_en'), t('admin.name_fr'), t('admin.active_point'), ''], list.items.map((p) => h('tr', {},
      h('td', {}, p.code), h('td', {}, p.name_en), h('td', {}, p.name_fr), h('td', {}, t(p.active ? 'yes' : 'no')),
      h('td', {}, h('button', { type: 'button', class: 'secondary', onclick: () => edit(p) }, t('open')))))),
    form);
}

export async function directoryScreen(ctx) {
  const dir = await api.get('/directory', { side: 'own' });
  const orgs = dir.sides.flatMap((s) => s.organizations);
  const status = h('p', { role: 'status' });
  const KINDS = ['adults', 'children', 'women'];
  const rows = orgs.flatMap((o) => o.services.filter((svc) => svc.is_shelter).map((svc) => {
    const inputs = Object.fromEntries(KINDS.map((k) => [k, h('input', {
      type: 'number', min: '0', max: '10000', class: 'narrow', value: svc.capacity?.[k] ?? 0, 'aria-label': `${t(`admin.places_${k}`)} — ${svc.name}`,
    })]));
    return h('tr', {}, h('td', {}, o.name), h('td', {}, svc.name), KINDS.map((k) => h('td', {}, inputs[k])),
      h('td', {}, h('button', {
        type: 'button', class: 'secondary',
        onclick: () => api.call('PUT', `/directory/services/${svc.id}/capacity`, { body: Object.fromEntries(KINDS.map((k) => [k, Number(inputs[k].value)])) })
          .then(() => { status.textContent = t('saved'); }, errorOf(status)),
      }, t('admin.set_places'))));
  }));

  // A new organisation.
  const org = { name: h('input', { autocomplete: 'off' }), org_type: select(options('organization_type'), '', { blank: '' }) };
  const orgStatus = h('p', { role: 'status' });
  const orgForm = h('form', {
    class: 'card',
    onsubmit: (e) => {
      e.preventDefault();
      api.call('POST', '/directory/organizations', { body: { name: org.name.value.trim(), org_type: org.org_type.value } })
        .then(() => { ctx.flash = t('saved'); ctx.rerender(); }, errorOf(orgStatus, orgForm));
    },
  }, h('h2', {}, t('admin.new_organization')),
  field(t('admin.organization'), org.name, { name: 'name' }),
  field(t('admin.org_type'), org.org_type, { name: 'org_type' }),
  orgStatus, h('button', { type: 'submit' }, t('admin.create')));

  // A new service of an organisation.
  const svc = {
    organization: select(orgs.map((o) => [o.id, o.name]), ''),
    name: h('input', { autocomplete: 'off' }),
    service_type: select(options('service'), '', { blank: '' }),
    region: h('input', { autocomplete: 'off' }),
    district: h('input', { autocomplete: 'off' }),
    phone: h('input', { type: 'tel', autocomplete: 'off' }),
    is_shelter: h('input', { type: 'checkbox', id: 'svc-shelter' }),
  };
  const svcStatus = h('p', { role: 'status' });
  const orNull = (v) => v.trim() || null;
  const svcForm = h('form', {
    class: 'card',
    onsubmit: (e) => {
      e.preventDefault();
      const body = {
        name: svc.name.value.trim(), service_type: svc.service_type.value, is_shelter: svc.is_shelter.checked,
        region: orNull(svc.region.value), district: orNull(svc.district.value), phone: orNull(svc.phone.value),
      };
      api.call('POST', `/directory/organizations/${svc.organization.value}/services`, { body })
        .then(() => { ctx.flash = t('saved'); ctx.rerender(); }, errorOf(svcStatus, svcForm));
    },
  }, h('h2', {}, t('admin.new_service')),
  field(t('admin.organization'), svc.organization),
  field(t('admin.service_name'), svc.name, { name: 'name' }),
  field(t('admin.service_type'), svc.service_type, { name: 'service_type' }),
  field(t('form.origin_region'), svc.region, { name: 'region' }),
  field(t('form.origin_district'), svc.district, { name: 'district' }),
  field(t('form.phone'), svc.phone, { name: 'phone' }),
  h('div', { class: 'field inline' }, svc.is_shelter, h('label', { for: 'svc-shelter' }, t('admin.shelter'))),
  svcStatus, h('button', { type: 'submit' }, t('admin.create')));

  return h('section', {}, h('h1', {}, t('admin.directory')),
    h('h2', {}, t('admin.shelters')), h('p', {}, t('admin.places')), status,
    rows.length ? table(t('admin.directory'), [t('admin.organization'), t('admin.shelter'), ...KINDS.map((k) => t(`admin.places_${k}`)), ''], rows) : h('p', {}, t('none')),
    orgForm, orgs.length ? svcForm : null);
}
