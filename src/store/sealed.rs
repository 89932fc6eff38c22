//! Personal data at rest is sealed, so that erasure can be cryptographic.
//!
//! Every column that carries a person's data — the identity block, the data
//! set, the bodies of messages, reports, timeline comments — is written
//! sealed (AES-256-GCM, the column and the referral as associated data)
//! under a data key of its referral. Data keys live in `case_keys`, each
//! wrapped by the key-encryption key (KEK) of an epoch of the node's
//! [`KeyRing`], which is kept outside the database and its backups.
//!
//! Erasure deletes the referral's data key ([`destroy`]). The next
//! [`rotate`] re-wraps every remaining data key under a new epoch, after
//! which the old KEK is destroyed: the deleted data key, wherever a copy of
//! it survives (PostgreSQL's dead rows and write-ahead log, SQLite's free
//! pages, a backup taken before), can no longer be unwrapped, and what it
//! sealed cannot be read by anyone.
//!
//! The ring reaches the rows through the thread that runs a database call:
//! [`crate::store::Db`] enters it ([`enter`]) around every call it runs, so
//! that each node in a process seals with its own keys. Data keys unwrapped
//! during a call are kept for that call only.
//!
//! Names stay searchable through a blind index: keyed hashes of the names'
//! trigrams ([`super::name_index`]), under a key derived from the current
//! epoch's KEK and recomputed at each rotation.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use openssl::symm::{decrypt_aead, encrypt_aead, Cipher};

use super::keyring::{self, Kek, KeyRing};
use super::schema::{case_identities, case_keys, cases, vault_state};
use super::{AnyConnection, DbError};
use crate::domain::name_trigrams::{name_trigrams, term_trigrams};

/// How a sealed value begins; anything else is stored as it is (values
/// written before sealing existed, erasure markers, the consent record kept
/// after an erasure).
pub const PREFIX: &str = "sealed1:";

/// What a sealed value is, bound into its seal so that a value cannot be
/// moved to another column or referral.
#[derive(Debug, Clone, Copy)]
pub enum Column {
    Identity,
    Details,
    Body,
    Report,
    Comment,
}

impl Column {
    fn tag(self) -> &'static str {
        match self {
            Column::Identity => "identity",
            Column::Details => "details",
            Column::Body => "body",
            Column::Report => "report",
            Column::Comment => "comment",
        }
    }
}

type DataKey = [u8; 32];

struct Context {
    ring: Arc<KeyRing>,
    /// Data keys unwrapped in this call (`None`: the referral has none, or
    /// its epoch's KEK is destroyed).
    keys: HashMap<String, Option<DataKey>>,
}

thread_local! {
    static CONTEXT: RefCell<Vec<Context>> = const { RefCell::new(Vec::new()) };
}

/// While alive, database calls on this thread seal with `ring`.
pub struct Entered(());

impl Drop for Entered {
    fn drop(&mut self) {
        CONTEXT.with(|c| {
            if let Some(mut ctx) = c.borrow_mut().pop() {
                for key in ctx.keys.values_mut().flatten() {
                    key.fill(0);
                }
            }
        });
    }
}

/// Seals and opens with `ring` on this thread until the guard is dropped.
pub fn enter(ring: &Arc<KeyRing>) -> Entered {
    CONTEXT.with(|c| {
        c.borrow_mut().push(Context {
            ring: ring.clone(),
            keys: HashMap::new(),
        })
    });
    Entered(())
}

/// Forgets the data keys unwrapped or made so far in this call (a
/// savepoint that made one was rolled back).
pub fn forget() {
    CONTEXT.with(|c| {
        if let Some(ctx) = c.borrow_mut().last_mut() {
            ctx.keys.clear();
        }
    });
}

fn with_context<T>(f: impl FnOnce(&mut Context) -> Result<T, DbError>) -> Result<T, DbError> {
    CONTEXT.with(|c| match c.borrow_mut().last_mut() {
        Some(ctx) => f(ctx),
        None => Err(DbError::Keys(
            "no key ring for this database call (personal data cannot be sealed)".into(),
        )),
    })
}

fn crypto(e: openssl::error::ErrorStack) -> DbError {
    DbError::Keys(format!("cipher: {e}"))
}

/// AES-256-GCM: `nonce || ciphertext || tag`.
fn encrypt(key: &[u8; 32], aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, DbError> {
    let mut nonce = [0u8; 12];
    openssl::rand::rand_bytes(&mut nonce).map_err(crypto)?;
    let mut tag = [0u8; 16];
    let ct = encrypt_aead(
        Cipher::aes_256_gcm(),
        key,
        Some(&nonce),
        aad,
        plain,
        &mut tag,
    )
    .map_err(crypto)?;
    let mut out = Vec::with_capacity(12 + ct.len() + 16);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out.extend_from_slice(&tag);
    Ok(out)
}

fn decrypt(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < 28 {
        return None;
    }
    let (nonce, rest) = sealed.split_at(12);
    let (ct, tag) = rest.split_at(rest.len() - 16);
    decrypt_aead(Cipher::aes_256_gcm(), key, Some(nonce), aad, ct, tag).ok()
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD_NO_PAD
}

fn wrap(kek: &Kek, referral: &str, key: &DataKey) -> Result<String, DbError> {
    Ok(b64().encode(encrypt(keyring::bytes(kek), referral.as_bytes(), key)?))
}

fn unwrap_key(kek: &Kek, referral: &str, wrapped: &str) -> Option<DataKey> {
    let bytes = b64().decode(wrapped).ok()?;
    decrypt(keyring::bytes(kek), referral.as_bytes(), &bytes)?
        .try_into()
        .ok()
}

/// The epoch in use. For a write (`lock`), on PostgreSQL, the state row is
/// share-locked, so that a rotation in progress is waited for and what is
/// written is under the epoch it leaves (SQLite has one writer: nothing
/// runs beside a rotation).
fn current_epoch(conn: &mut AnyConnection, lock: bool) -> Result<i64, DbError> {
    let q = vault_state::table.find(1).select(vault_state::epoch);
    Ok(match conn {
        AnyConnection::Postgresql(pg) if lock => q.for_share().first(pg)?,
        _ => super::cached::native!(conn, |c| q.first(c))?,
    })
}

/// The referral's data key: unwrapped from its row, or (with `create`)
/// generated and stored. `None`: there is none (erased), or its epoch's KEK
/// was destroyed (a database restored from before a rotation).
fn data_key(
    conn: &mut AnyConnection,
    referral: &str,
    create: bool,
) -> Result<Option<DataKey>, DbError> {
    if let Some(k) = with_context(|ctx| Ok(ctx.keys.get(referral).copied()))? {
        if k.is_some() || !create {
            return Ok(k);
        }
    }
    let ring = with_context(|ctx| Ok(ctx.ring.clone()))?;
    let row: Option<(i64, String)> = super::cached::native!(conn, |c| case_keys::table
        .find(referral)
        .select((case_keys::epoch, case_keys::wrapped))
        .first(c)
        .optional())?;
    let key = match row {
        Some((epoch, wrapped)) => unwrapped(&ring, referral, epoch, &wrapped)?,
        None if create => {
            let epoch = current_epoch(conn, true)?;
            let kek = ring.ensure(epoch)?;
            let mut key = [0u8; 32];
            openssl::rand::rand_bytes(&mut key).map_err(crypto)?;
            super::cached::write_fixed!(
                conn,
                i64,
                diesel::insert_into(case_keys::table)
                    .values((
                        case_keys::referral_id.eq(referral),
                        case_keys::epoch.eq(epoch),
                        case_keys::wrapped.eq(wrap(&kek, referral, &key)?),
                        case_keys::created_at.eq(chrono::Utc::now().naive_utc()),
                    ))
                    .returning(case_keys::epoch)
            )?;
            Some(key)
        }
        None => None,
    };
    with_context(|ctx| {
        ctx.keys.insert(referral.to_owned(), key);
        Ok(())
    })?;
    Ok(key)
}

fn aad(column: Column, referral: &str) -> Vec<u8> {
    format!("passerelle/{}/{referral}", column.tag()).into_bytes()
}

/// Seals `plain` for `column` of `referral` (creating its data key if it
/// has none yet).
pub fn seal(
    conn: &mut AnyConnection,
    referral: &str,
    column: Column,
    plain: &str,
) -> Result<String, DbError> {
    crate::meter::scope(crate::meter::Part::Sealing, || {
        seal_now(conn, referral, column, plain)
    })
}

fn seal_now(
    conn: &mut AnyConnection,
    referral: &str,
    column: Column,
    plain: &str,
) -> Result<String, DbError> {
    let key = data_key(conn, referral, true)?
        .ok_or_else(|| DbError::Keys("the referral's data key was destroyed".into()))?;
    let sealed = encrypt(&key, &aad(column, referral), plain.as_bytes())?;
    Ok(format!("{PREFIX}{}", b64().encode(sealed)))
}

/// Opens a stored value of `column` of `referral`: the plain text, or `None`
/// when its data key is gone (erased, or destroyed with an old epoch).
/// Values that are not sealed are returned as they are.
pub fn open(
    conn: &mut AnyConnection,
    referral: &str,
    column: Column,
    stored: &str,
) -> Result<Option<String>, DbError> {
    let Some(b) = stored.strip_prefix(PREFIX) else {
        return Ok(Some(stored.to_owned()));
    };
    crate::meter::scope(crate::meter::Part::Sealing, || {
        open_now(conn, referral, column, b)
    })
}

fn open_now(
    conn: &mut AnyConnection,
    referral: &str,
    column: Column,
    b: &str,
) -> Result<Option<String>, DbError> {
    let Some(key) = data_key(conn, referral, false)? else {
        return Ok(None);
    };
    let bytes = b64()
        .decode(b)
        .map_err(|_| DbError::Corrupt(format!("a sealed {} is not base64", column.tag())))?;
    let plain = decrypt(&key, &aad(column, referral), &bytes)
        .ok_or_else(|| DbError::Corrupt(format!("a sealed {} does not open", column.tag())))?;
    String::from_utf8(plain)
        .map(Some)
        .map_err(|_| DbError::Corrupt(format!("a sealed {} is not text", column.tag())))
}

/// The data key wrapped under `epoch`'s KEK, if this node still holds it.
fn unwrapped(
    ring: &KeyRing,
    referral: &str,
    epoch: i64,
    wrapped: &str,
) -> Result<Option<DataKey>, DbError> {
    match ring.get(epoch)? {
        Some(kek) => Ok(Some(unwrap_key(&kek, referral, wrapped).ok_or_else(
            || {
                DbError::Corrupt(format!(
                    "the data key of a referral does not unwrap (epoch {epoch})"
                ))
            },
        )?)),
        None => Ok(None),
    }
}

/// Takes the referral's wrapped data key (`(epoch, wrapped)`, `None` when
/// it has none) read in the same statement as its row, so that opening
/// the row's values needs no query of its own.
/// Without a key ring (a call that opens nothing sealed) it does nothing.
pub fn prime(referral: &str, wrapped: Option<(i64, String)>) -> Result<(), DbError> {
    let primed = CONTEXT.with(|c| {
        c.borrow()
            .last()
            .is_none_or(|ctx| ctx.keys.contains_key(referral))
    });
    if primed {
        return Ok(());
    }
    crate::meter::scope(crate::meter::Part::Sealing, || {
        let ring = with_context(|ctx| Ok(ctx.ring.clone()))?;
        let key = match wrapped {
            Some((epoch, wrapped)) => unwrapped(&ring, referral, epoch, &wrapped)?,
            None => None,
        };
        with_context(|ctx| {
            ctx.keys.insert(referral.to_owned(), key);
            Ok(())
        })
    })
}

/// Unwraps the data keys of these referrals in one query, ahead of opening
/// a page of their values.
pub fn prefetch(conn: &mut AnyConnection, referrals: &[String]) -> Result<(), DbError> {
    let ring = with_context(|ctx| Ok(ctx.ring.clone()))?;
    let wanted: Vec<&String> = with_context(|ctx| {
        let mut wanted: Vec<&String> = referrals
            .iter()
            .filter(|r| !ctx.keys.contains_key(*r))
            .collect();
        wanted.sort();
        wanted.dedup();
        Ok(wanted)
    })?;
    if wanted.is_empty() {
        return Ok(());
    }
    let mut rows: Vec<(String, i64, String)> = Vec::new();
    for chunk in wanted.chunks(500) {
        rows.extend(
            case_keys::table
                .filter(case_keys::referral_id.eq_any(chunk))
                .select((case_keys::referral_id, case_keys::epoch, case_keys::wrapped))
                .load::<(String, i64, String)>(conn)?,
        );
    }
    let mut found = HashMap::new();
    for (referral, epoch, wrapped) in rows {
        let key = match ring.get(epoch)? {
            Some(kek) => unwrap_key(&kek, &referral, &wrapped),
            None => None,
        };
        found.insert(referral, key);
    }
    with_context(|ctx| {
        for r in wanted {
            ctx.keys.insert(r.clone(), found.remove(r).flatten());
        }
        Ok(())
    })
}

/// Deletes the referral's data key: what it sealed is unreadable from now
/// on, and, after the next [`rotate`], from every copy anywhere.
pub fn destroy(
    conn: &mut AnyConnection,
    referral: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let n = diesel::delete(case_keys::table.find(referral)).execute(conn)?;
    if n > 0 {
        diesel::update(vault_state::table.find(1))
            .set(vault_state::destroyed_at.eq(Some(now)))
            .execute(conn)?;
    }
    with_context(|ctx| {
        ctx.keys.insert(referral.to_owned(), None);
        Ok(())
    })
}

/// Whether the referral still has a data key.
pub fn has_key(conn: &mut AnyConnection, referral: &str) -> Result<bool, DbError> {
    let n: i64 = case_keys::table
        .filter(case_keys::referral_id.eq(referral))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// The key the blind name index is hashed with: derived from the KEK of
/// the current epoch.
fn index_key(conn: &mut AnyConnection, lock: bool) -> Result<Arc<Kek>, DbError> {
    let epoch = current_epoch(conn, lock)?;
    let ring = with_context(|ctx| Ok(ctx.ring.clone()))?;
    let kek = ring.ensure(epoch)?;
    let mut derived = Box::new([0u8; 32]);
    derived.copy_from_slice(&hmac(keyring::bytes(&kek), b"passerelle/name-index")?);
    Ok(Arc::new(secrecy::SecretBox::new(derived)))
}

fn hmac(key: &[u8], data: &[u8]) -> Result<Vec<u8>, DbError> {
    let pkey = openssl::pkey::PKey::hmac(key).map_err(crypto)?;
    let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &pkey)
        .map_err(crypto)?;
    signer.update(data).map_err(crypto)?;
    signer.sign_to_vec().map_err(crypto)
}

fn tokens(key: &Kek, grams: Vec<String>) -> Result<Vec<String>, DbError> {
    let mut out = Vec::with_capacity(grams.len());
    for g in grams {
        let h = hmac(keyring::bytes(key), g.as_bytes())?;
        out.push(h[..4].iter().map(|b| format!("{b:02x}")).collect());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The blind index of these names: their trigrams' keyed hashes (the
/// grams of [`super::name_index`]), sorted, without repeats.
pub fn name_grams(conn: &mut AnyConnection, names: &[&str]) -> Result<Vec<String>, DbError> {
    let key = index_key(conn, true)?;
    tokens(&key, names.iter().flat_map(|n| name_trigrams(n)).collect())
}

/// The grams a case's names must all hold to contain `term`.
pub fn term_grams(conn: &mut AnyConnection, term: &str) -> Result<Vec<String>, DbError> {
    let key = index_key(conn, false)?;
    tokens(&key, term_trigrams(term))
}

/// Where the ring stands: the epoch in use, and whether a data key was
/// destroyed since it began (a rotation is due).
pub fn state(conn: &mut AnyConnection) -> Result<(i64, bool), DbError> {
    let (epoch, rotated, destroyed): (i64, NaiveDateTime, Option<NaiveDateTime>) =
        vault_state::table
            .find(1)
            .select((
                vault_state::epoch,
                vault_state::rotated_at,
                vault_state::destroyed_at,
            ))
            .first(conn)?;
    Ok((epoch, destroyed.is_some_and(|d| d >= rotated)))
}

/// How many referrals' data keys are wrapped under an epoch whose KEK this
/// node no longer holds (a database restored from before a rotation).
pub fn unreadable(conn: &mut AnyConnection) -> Result<i64, DbError> {
    let ring = with_context(|ctx| Ok(ctx.ring.clone()))?;
    let held = ring.epochs();
    Ok(case_keys::table
        .filter(case_keys::epoch.ne_all(held))
        .count()
        .get_result(conn)?)
}

/// Binds the key ring to this database's ring id (made on first use) and
/// makes sure new data keys can be wrapped: the KEK of the current epoch
/// exists. If it was destroyed (a database restored from before a
/// rotation), a new epoch begins; the data keys of the old one stay
/// unreadable. Returns the epoch in use.
pub fn prepare(conn: &mut AnyConnection, now: NaiveDateTime) -> Result<i64, DbError> {
    let ring = with_context(|ctx| Ok(ctx.ring.clone()))?;
    let mut id: String = vault_state::table
        .find(1)
        .select(vault_state::ring)
        .first(conn)?;
    if id.is_empty() {
        id = uuid::Uuid::new_v4().simple().to_string();
        diesel::update(vault_state::table.find(1))
            .set(vault_state::ring.eq(&id))
            .execute(conn)?;
    }
    ring.bind(&id)?;
    let (epoch, _) = state(conn)?;
    if ring.get(epoch)?.is_some() {
        return Ok(epoch);
    }
    let used: i64 = case_keys::table.count().get_result(conn)?;
    if used == 0 {
        ring.ensure(epoch)?;
        return Ok(epoch);
    }
    let next = ring.epochs().last().copied().unwrap_or(0).max(epoch) + 1;
    ring.ensure(next)?;
    diesel::update(vault_state::table.find(1))
        .set((vault_state::epoch.eq(next), vault_state::rotated_at.eq(now)))
        .execute(conn)?;
    Ok(next)
}

/// Begins a new epoch if a data key was destroyed since the current one
/// began: every data key is re-wrapped under the new epoch's KEK and the
/// name index re-hashed with its key, in this transaction. The old KEKs are
/// destroyed afterwards ([`KeyRing::destroy_before`]), once no call can
/// still be reading under them. Returns the new epoch, if one began.
pub fn rotate(conn: &mut AnyConnection, now: NaiveDateTime) -> Result<Option<i64>, DbError> {
    // Lock the state row first: new data keys wait for the rotation.
    diesel::update(vault_state::table.find(1))
        .set(vault_state::epoch.eq(vault_state::epoch))
        .execute(conn)?;
    let (epoch, due) = state(conn)?;
    if !due {
        return Ok(None);
    }
    let ring = with_context(|ctx| Ok(ctx.ring.clone()))?;
    let next = epoch + 1;
    let kek = ring.ensure(next)?;
    let rows: Vec<(String, i64, String)> = case_keys::table
        .select((case_keys::referral_id, case_keys::epoch, case_keys::wrapped))
        .load(conn)?;
    for (referral, old, wrapped) in rows {
        let Some(old_kek) = ring.get(old)? else {
            continue;
        };
        let key = unwrap_key(&old_kek, &referral, &wrapped).ok_or_else(|| {
            DbError::Corrupt(format!(
                "the data key of a referral does not unwrap (epoch {old})"
            ))
        })?;
        diesel::update(case_keys::table.find(&referral))
            .set((
                case_keys::epoch.eq(next),
                case_keys::wrapped.eq(wrap(&kek, &referral, &key)?),
            ))
            .execute(conn)?;
    }
    diesel::update(vault_state::table.find(1))
        .set((vault_state::epoch.eq(next), vault_state::rotated_at.eq(now)))
        .execute(conn)?;
    // The name index under the new epoch's key.
    super::name_index::clear(conn)?;
    let identities: Vec<(String, String, String)> = case_identities::table
        .inner_join(cases::table)
        .select((
            case_identities::case_id,
            cases::referral_id,
            case_identities::identity,
        ))
        .load(conn)?;
    for (case_id, referral, stored) in identities {
        let Some(text) = open(conn, &referral, Column::Identity, &stored)? else {
            continue;
        };
        let names = super::cases::names_of(&text);
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let grams = name_grams(conn, &refs)?;
        super::name_index::insert(conn, &case_id, &grams)?;
    }
    Ok(Some(next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_column_and_referral() {
        let key = [7u8; 32];
        let sealed = encrypt(&key, &aad(Column::Identity, "r1"), b"Zainab").unwrap();
        assert_eq!(
            decrypt(&key, &aad(Column::Identity, "r1"), &sealed).unwrap(),
            b"Zainab"
        );
        assert!(decrypt(&key, &aad(Column::Details, "r1"), &sealed).is_none());
        assert!(decrypt(&key, &aad(Column::Identity, "r2"), &sealed).is_none());
        assert!(decrypt(&[8u8; 32], &aad(Column::Identity, "r1"), &sealed).is_none());
        assert!(decrypt(&key, b"", &sealed[..10]).is_none());
    }
}
