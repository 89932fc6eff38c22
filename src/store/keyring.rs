//! The key ring: the node's key-encryption keys (KEKs), one file per epoch
//! (`kek-{ring}-{epoch}.key`, 32 random bytes in hex, mode 0600) in a
//! directory of their own, outside the database and its backups. `ring` is
//! the database's own ring id, so that two databases given the same
//! directory never use — or destroy — each other's keys. A KEK wraps the data
//! keys that seal personal data at rest (see [`super::sealed`]); destroying
//! the KEK of an epoch makes every copy of a data key wrapped under it —
//! in dead rows, the write-ahead log or a backup — useless.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use secrecy::{ExposeSecret, SecretBox};

use super::DbError;

/// A key-encryption key.
pub type Kek = SecretBox<[u8; 32]>;

/// The KEKs of the epochs this node holds.
pub struct KeyRing {
    dir: PathBuf,
    /// The database's ring id, once known ([`KeyRing::bind`]).
    id: RwLock<Option<String>>,
    keys: RwLock<BTreeMap<i64, Arc<Kek>>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("dir", &self.dir)
            .field("epochs", &self.epochs())
            .finish()
    }
}

fn ring_error(what: impl std::fmt::Display) -> DbError {
    DbError::Keys(what.to_string())
}

fn file_of(dir: &Path, ring: &str, epoch: i64) -> PathBuf {
    dir.join(format!("kek-{ring}-{epoch}.key"))
}

/// The epoch a file name holds a key of, if it is one of ring `ring`'s.
fn epoch_of(name: &str, ring: &str) -> Option<i64> {
    name.strip_prefix("kek-")?
        .strip_prefix(ring)?
        .strip_prefix('-')?
        .strip_suffix(".key")?
        .parse()
        .ok()
        .filter(|e| *e > 0)
}

fn read_key(path: &Path) -> Result<Kek, DbError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| ring_error(format!("{}: {e}", path.display())))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(ring_error(format!(
                "{} is readable by other users (mode {:o}); run `chmod 600` on it",
                path.display(),
                mode & 0o777
            )));
        }
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| ring_error(format!("{}: {e}", path.display())))?;
    let mut key = Box::new([0u8; 32]);
    let hex = text.trim().as_bytes();
    if hex.len() != 64 {
        return Err(ring_error(format!(
            "{} is not a 32-byte key",
            path.display()
        )));
    }
    for (i, pair) in hex.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).unwrap_or("");
        key[i] = u8::from_str_radix(s, 16)
            .map_err(|_| ring_error(format!("{} is not a hex key", path.display())))?;
    }
    Ok(SecretBox::new(key))
}

impl KeyRing {
    /// Opens the ring in `dir` (created, mode 0700, if missing) and loads
    /// every key in it. Refuses key files readable by other users.
    pub fn open(dir: &Path) -> Result<Arc<KeyRing>, DbError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| ring_error(format!("cannot create {}: {e}", dir.display())))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| ring_error(format!("{}: {e}", dir.display())))?;
        }
        Ok(Arc::new(KeyRing {
            dir: dir.to_owned(),
            id: RwLock::new(None),
            keys: RwLock::new(BTreeMap::new()),
        }))
    }

    /// Binds the ring to the database's ring id and loads its keys.
    pub fn bind(&self, ring: &str) -> Result<(), DbError> {
        if ring.is_empty() || !ring.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(ring_error(format!("invalid ring id `{ring}`")));
        }
        *self.id.write().map_err(|_| ring_error("key ring lock"))? = Some(ring.to_owned());
        self.reload()
    }

    fn ring_id(&self) -> Result<String, DbError> {
        self.id
            .read()
            .map_err(|_| ring_error("key ring lock"))?
            .clone()
            .ok_or_else(|| ring_error("the key ring is not bound to the database yet"))
    }

    /// Reads the directory again: learns the KEKs another replica of the
    /// node made, and forgets the ones it destroyed.
    pub fn reload(&self) -> Result<(), DbError> {
        let ring = self.ring_id()?;
        let mut found = BTreeMap::new();
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| ring_error(format!("{}: {e}", self.dir.display())))?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            if let Some(epoch) = name.to_str().and_then(|n| epoch_of(n, &ring)) {
                found.insert(epoch, Arc::new(read_key(&entry.path())?));
            }
        }
        *self.keys.write().map_err(|_| ring_error("key ring lock"))? = found;
        Ok(())
    }

    /// The epochs held, oldest first.
    pub fn epochs(&self) -> Vec<i64> {
        self.keys
            .read()
            .map(|k| k.keys().copied().collect())
            .unwrap_or_default()
    }

    /// The KEK of `epoch`, if this node still holds it.
    pub fn get(&self, epoch: i64) -> Result<Option<Arc<Kek>>, DbError> {
        if let Some(k) = self
            .keys
            .read()
            .map_err(|_| ring_error("key ring lock"))?
            .get(&epoch)
        {
            return Ok(Some(k.clone()));
        }
        self.reload()?;
        Ok(self
            .keys
            .read()
            .map_err(|_| ring_error("key ring lock"))?
            .get(&epoch)
            .cloned())
    }

    /// Makes sure a KEK of `epoch` exists, generating and writing it
    /// (durably, mode 0600) if not.
    pub fn ensure(&self, epoch: i64) -> Result<Arc<Kek>, DbError> {
        if let Some(k) = self.get(epoch)? {
            return Ok(k);
        }
        let mut key = Box::new([0u8; 32]);
        openssl::rand::rand_bytes(&mut key[..]).map_err(ring_error)?;
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        let ring = self.ring_id()?;
        let path = file_of(&self.dir, &ring, epoch);
        let tmp = self.dir.join(format!(".kek-{ring}-{epoch}.tmp"));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let write = || -> std::io::Result<()> {
            let mut f = options.open(&tmp)?;
            f.write_all(hex.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(&self.dir)?.sync_all()
        };
        write().map_err(|e| ring_error(format!("cannot write {}: {e}", path.display())))?;
        let kek = Arc::new(SecretBox::new(key));
        self.keys
            .write()
            .map_err(|_| ring_error("key ring lock"))?
            .insert(epoch, kek.clone());
        Ok(kek)
    }

    /// Destroys the KEKs of the epochs before `epoch`: each file is
    /// overwritten with zeros, synced and removed. Returns how many.
    pub fn destroy_before(&self, epoch: i64) -> Result<usize, DbError> {
        self.reload()?;
        let ring = self.ring_id()?;
        let old: Vec<i64> = self.epochs().into_iter().filter(|e| *e < epoch).collect();
        for e in &old {
            let path = file_of(&self.dir, &ring, *e);
            let wipe = || -> std::io::Result<()> {
                let mut f = std::fs::OpenOptions::new().write(true).open(&path)?;
                f.write_all(&[0u8; 65])?;
                f.sync_all()?;
                std::fs::remove_file(&path)?;
                std::fs::File::open(&self.dir)?.sync_all()
            };
            wipe()
                .map_err(|err| ring_error(format!("cannot destroy {}: {err}", path.display())))?;
            self.keys
                .write()
                .map_err(|_| ring_error("key ring lock"))?
                .remove(e);
        }
        Ok(old.len())
    }
}

/// The bytes of a KEK, for wrapping and unwrapping data keys.
pub(crate) fn bytes(kek: &Kek) -> &[u8; 32] {
    kek.expose_secret()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_written_private_found_again_and_destroyed() {
        let dir = tempfile::tempdir().unwrap();
        let ring = KeyRing::open(dir.path()).unwrap();
        ring.bind("a1").unwrap();
        let one = bytes(&ring.ensure(1).unwrap()).to_owned();
        ring.ensure(2).unwrap();
        // Another database's ring in the same directory is left alone.
        let other = KeyRing::open(dir.path()).unwrap();
        other.bind("b2").unwrap();
        other.ensure(1).unwrap();
        let again = KeyRing::open(dir.path()).unwrap();
        again.bind("a1").unwrap();
        assert_eq!(again.epochs(), vec![1, 2]);
        assert_eq!(bytes(&again.get(1).unwrap().unwrap()), &one);
        assert_eq!(again.destroy_before(2).unwrap(), 1);
        assert!(again.get(1).unwrap().is_none());
        assert!(!dir.path().join("kek-a1-1.key").exists());
        assert!(dir.path().join("kek-b2-1.key").exists());
        let reopened = KeyRing::open(dir.path()).unwrap();
        reopened.bind("a1").unwrap();
        assert_eq!(reopened.epochs(), vec![2]);
    }

    #[test]
    fn a_key_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let ring = KeyRing::open(dir.path()).unwrap();
        ring.bind("a1").unwrap();
        ring.ensure(1).unwrap();
        let path = dir.path().join("kek-a1-1.key");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = ring.bind("a1").unwrap_err().to_string();
        assert!(err.contains("readable by other users"), "{err}");
    }
}
