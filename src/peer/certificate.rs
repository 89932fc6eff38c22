//! The peer's certificate as every batch taken in and every answer recorded
//! needs it — its public key, its fingerprint and its PEM — read once per
//! certificate rather than once per batch.
//!
//! OpenSSL 3 reads a certificate's public key through its provider
//! decoders: reading it twice for each answer (to check the receipts'
//! signature, then to keep the PEM with them) and once for each batch taken
//! in cost more CPU than every signature of the referral path together (see
//! the README's *Session 35*). A connection presents the same certificate
//! until the peer rotates it, so the last few read are kept, found by their
//! DER bytes; what is kept is a pure function of those bytes, so nothing
//! ever has to be forgotten for correctness.

use std::sync::{Arc, Mutex, PoisonError};

use openssl::pkey::{PKey, Public};
use openssl::x509::X509;

use crate::domain::envelope;

/// A certificate as read.
pub struct PeerCertificate {
    pub x509: X509,
    /// The key its receipts, envelopes and cosignatures are checked with.
    pub public_key: PKey<Public>,
    /// SHA-256 of its DER, hex (as kept with what it signed).
    pub fingerprint: String,
    /// Its PEM (as kept with what it signed).
    pub pem: String,
}

/// Certificates kept: the peer's, its previous one during a rotation, and
/// room for a replica's.
const KEPT: usize = 4;

/// The certificates read last, oldest first, each with its DER.
static READ: Mutex<Vec<(Vec<u8>, Arc<PeerCertificate>)>> = Mutex::new(Vec::new());

/// The certificate whose DER is `der`, read once while it is among the
/// last [`KEPT`] read.
pub fn read(der: &[u8]) -> Result<Arc<PeerCertificate>, openssl::error::ErrorStack> {
    if let Some(kept) = kept(der) {
        return Ok(kept);
    }
    let x509 = X509::from_der(der)?;
    let read = Arc::new(PeerCertificate {
        public_key: x509.public_key()?,
        fingerprint: envelope::fingerprint(der),
        pem: String::from_utf8_lossy(&x509.to_pem()?).into_owned(),
        x509,
    });
    let mut all = READ.lock().unwrap_or_else(PoisonError::into_inner);
    if !all.iter().any(|(d, _)| d == der) {
        if all.len() == KEPT {
            all.remove(0);
        }
        all.push((der.to_vec(), read.clone()));
    }
    Ok(read)
}

fn kept(der: &[u8]) -> Option<Arc<PeerCertificate>> {
    READ.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .find(|(d, _)| d == der)
        .map(|(_, c)| c.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node_certificate(node: &str) -> Vec<u8> {
        let pem = std::fs::read(format!("certs-dev/{node}-server.pem")).unwrap();
        X509::from_pem(&pem).unwrap().to_der().unwrap()
    }

    /// What is read is the certificate's own key, fingerprint and PEM, the
    /// same as read afresh, and a second read of the same bytes is the kept
    /// one; different bytes are read as themselves; garbage is refused.
    #[test]
    fn a_certificate_is_read_once_and_read_right() {
        let ne = node_certificate("ne-anltp");
        let first = read(&ne).unwrap();
        let fresh = X509::from_der(&ne).unwrap();
        assert!(first.public_key.public_eq(&fresh.public_key().unwrap()));
        assert_eq!(first.fingerprint, envelope::fingerprint(&ne));
        assert_eq!(first.pem.as_bytes(), fresh.to_pem().unwrap());
        assert!(Arc::ptr_eq(&first, &read(&ne).unwrap()));

        let ng = node_certificate("ng-naptip");
        let other = read(&ng).unwrap();
        assert_eq!(other.fingerprint, envelope::fingerprint(&ng));
        assert!(!other.public_key.public_eq(&first.public_key));

        assert!(read(b"not a certificate").is_err());
    }
}
