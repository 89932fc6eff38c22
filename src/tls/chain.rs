//! Full RFC 5280 path validation of a presented certificate chain by
//! OpenSSL, against the trusted peer CAs.
//!
//! webpki, which rustls uses, keeps only the subject, key and name
//! constraints of a trust anchor: it ignores the anchor's basic constraints,
//! so a chain through an intermediate CA made with a trusted CA's key passes
//! although that CA says `pathlen:0`. OpenSSL applies the path length and
//! name constraints of every CA in the chain, the trusted ones included, in
//! strict mode, and checks that every certificate may serve a TLS client.

use openssl::stack::Stack;
use openssl::x509::store::{X509Store, X509StoreBuilder};
use openssl::x509::verify::{X509VerifyFlags, X509VerifyParam};
use openssl::x509::{X509PurposeId, X509StoreContext, X509VerifyResult, X509};
use rustls::pki_types::CertificateDer;

/// Validates client certificate chains against a fixed set of trusted CAs.
pub struct ChainValidator {
    store: X509Store,
}

impl std::fmt::Debug for ChainValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChainValidator")
    }
}

impl ChainValidator {
    /// A validator trusting `anchors` (DER CA certificates).
    pub fn new(anchors: &[CertificateDer<'_>]) -> anyhow::Result<Self> {
        let mut store = X509StoreBuilder::new()?;
        for der in anchors {
            store.add_cert(X509::from_der(der)?)?;
        }
        let mut param = X509VerifyParam::new()?;
        param.set_flags(X509VerifyFlags::X509_STRICT)?;
        param.set_purpose(X509PurposeId::SSL_CLIENT)?;
        store.set_param(&param)?;
        Ok(Self {
            store: store.build(),
        })
    }

    /// Checks the chain from `end_entity` through `intermediates` to a
    /// trusted CA; on failure, the stable reason code of the refusal.
    pub fn validate(
        &self,
        end_entity: &[u8],
        intermediates: &[CertificateDer<'_>],
    ) -> Result<(), &'static str> {
        let leaf = X509::from_der(end_entity).map_err(|_| "bad_encoding")?;
        let mut chain = Stack::new().map_err(|_| "invalid_certificate")?;
        for der in intermediates {
            let cert = X509::from_der(der).map_err(|_| "bad_encoding")?;
            chain.push(cert).map_err(|_| "invalid_certificate")?;
        }
        let mut ctx = X509StoreContext::new().map_err(|_| "invalid_certificate")?;
        let outcome = ctx.init(&self.store, &leaf, &chain, |c| {
            let ok = c.verify_cert()?;
            Ok(if ok { None } else { Some(c.error()) })
        });
        match outcome {
            Ok(None) => Ok(()),
            Ok(Some(error)) => Err(reason(error)),
            Err(_) => Err("invalid_certificate"),
        }
    }
}

/// The refusal code for an OpenSSL verification error.
fn reason(error: X509VerifyResult) -> &'static str {
    use openssl_sys as sys;
    match error.as_raw() {
        sys::X509_V_ERR_CERT_HAS_EXPIRED => "expired",
        sys::X509_V_ERR_CERT_NOT_YET_VALID => "not_yet_valid",
        sys::X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT
        | sys::X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
        | sys::X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE
        | sys::X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN
        | sys::X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT => "unknown_ca",
        sys::X509_V_ERR_PATH_LENGTH_EXCEEDED => "path_length_exceeded",
        sys::X509_V_ERR_PERMITTED_VIOLATION
        | sys::X509_V_ERR_EXCLUDED_VIOLATION
        | sys::X509_V_ERR_SUBTREE_MINMAX
        | sys::X509_V_ERR_UNSUPPORTED_CONSTRAINT_TYPE
        | sys::X509_V_ERR_UNSUPPORTED_CONSTRAINT_SYNTAX
        | sys::X509_V_ERR_UNSUPPORTED_NAME_SYNTAX => "name_constraints_violated",
        sys::X509_V_ERR_INVALID_PURPOSE => "wrong_key_usage",
        sys::X509_V_ERR_INVALID_CA => "invalid_ca",
        sys::X509_V_ERR_CERT_SIGNATURE_FAILURE => "bad_signature",
        _ => "invalid_certificate",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::pki::{self, LeafSpec, Usage};

    fn der(c: &X509) -> CertificateDer<'static> {
        CertificateDer::from(c.to_der().unwrap())
    }

    fn client(ca: &pki::Authority, dns: &str) -> X509 {
        pki::issue(
            ca,
            &LeafSpec {
                common_name: dns,
                dns: vec![dns.into()],
                ips: vec![],
                usage: Usage::Client,
                not_before_days: -1,
                not_after_days: 10,
            },
        )
        .unwrap()
        .0
    }

    #[test]
    fn a_leaf_of_the_trusted_ca_passes() {
        let ca = pki::new_authority("CA", 10).unwrap();
        let v = ChainValidator::new(&[der(&ca.cert)]).unwrap();
        assert_eq!(
            v.validate(&client(&ca, "ne-anltp").to_der().unwrap(), &[]),
            Ok(())
        );
    }

    #[test]
    fn the_path_length_of_the_trusted_ca_binds() {
        let ca = pki::new_authority("CA", 10).unwrap();
        let sub = pki::subordinate_authority(&ca, "Rogue intermediate", 10).unwrap();
        let leaf = client(&sub, "ne-anltp");
        let v = ChainValidator::new(&[der(&ca.cert)]).unwrap();
        assert_eq!(
            v.validate(&leaf.to_der().unwrap(), &[der(&sub.cert)]),
            Err("path_length_exceeded")
        );
    }

    #[test]
    fn name_constraints_of_the_trusted_ca_bind() {
        let ca = pki::constrained_authority("CA", "example.org", 10).unwrap();
        let v = ChainValidator::new(&[der(&ca.cert)]).unwrap();
        assert_eq!(
            v.validate(&client(&ca, "ne-anltp").to_der().unwrap(), &[]),
            Err("name_constraints_violated")
        );
        assert_eq!(
            v.validate(&client(&ca, "node.example.org").to_der().unwrap(), &[]),
            Ok(())
        );
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        let ca = pki::new_authority("CA", 10).unwrap();
        let v = ChainValidator::new(&[der(&ca.cert)]).unwrap();
        assert_eq!(v.validate(b"\x30\x03\x02\x01", &[]), Err("bad_encoding"));
    }
}
