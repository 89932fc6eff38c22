//! Certificate generation with the openssl crate: the development PKI
//! (`passerelle certs init`) and, in tests, deliberately wrong certificates
//! (expired, not yet valid, wrong node, unknown CA).
//!
//! Node identities are DNS subject alternative names equal to the node id
//! (`ne-anltp`, `ng-naptip`): webpki ignores the CN. Keys are ECDSA P-256.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509Builder, X509NameBuilder, X509};

use crate::domain::ids::NodeId;

/// What a leaf certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// TLS server (extended key usage serverAuth).
    Server,
    /// TLS client (extended key usage clientAuth).
    Client,
    /// No extended key usage extension at all: only for testing that the
    /// peer listener refuses such a certificate.
    Unrestricted,
}

/// A certificate authority: certificate and key.
pub struct Authority {
    pub cert: X509,
    pub key: PKey<Private>,
}

/// Parameters of a leaf certificate.
pub struct LeafSpec<'a> {
    pub common_name: &'a str,
    pub dns: Vec<String>,
    pub ips: Vec<IpAddr>,
    pub usage: Usage,
    /// Start of validity, in days from now (negative: in the past).
    pub not_before_days: i64,
    /// End of validity, in days from now.
    pub not_after_days: i64,
}

const DAY: i64 = 86_400;

fn new_key() -> anyhow::Result<PKey<Private>> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    Ok(PKey::from_ec_key(EcKey::generate(&group)?)?)
}

fn serial() -> anyhow::Result<Asn1Integer> {
    let mut bn = BigNum::new()?;
    bn.rand(127, MsbOption::MAYBE_ZERO, false)?;
    Ok(bn.to_asn1_integer()?)
}

fn name(common_name: &str, organisation: &str) -> anyhow::Result<openssl::x509::X509Name> {
    let mut b = X509NameBuilder::new()?;
    b.append_entry_by_nid(Nid::ORGANIZATIONNAME, organisation)?;
    b.append_entry_by_nid(Nid::COMMONNAME, common_name)?;
    Ok(b.build())
}

fn validity(b: &mut X509Builder, not_before_days: i64, not_after_days: i64) -> anyhow::Result<()> {
    let now = chrono::Utc::now().timestamp();
    let not_before = Asn1Time::from_unix(now + not_before_days * DAY)?;
    let not_after = Asn1Time::from_unix(now + not_after_days * DAY)?;
    b.set_not_before(&not_before)?;
    b.set_not_after(&not_after)?;
    Ok(())
}

/// A new self-signed CA valid for `days` (path length 0: it signs leaves only).
pub fn new_authority(common_name: &str, days: i64) -> anyhow::Result<Authority> {
    authority(common_name, days, None, None)
}

/// A CA certificate signed by `parent`'s key, for testing that the peer
/// listener honours `parent`'s path length constraint.
pub fn subordinate_authority(
    parent: &Authority,
    common_name: &str,
    days: i64,
) -> anyhow::Result<Authority> {
    authority(common_name, days, Some(parent), None)
}

/// A self-signed CA whose certificate permits only DNS names under
/// `permitted_dns`, for testing that name constraints are honoured.
pub fn constrained_authority(
    common_name: &str,
    permitted_dns: &str,
    days: i64,
) -> anyhow::Result<Authority> {
    authority(common_name, days, None, Some(permitted_dns))
}

fn authority(
    common_name: &str,
    days: i64,
    parent: Option<&Authority>,
    permitted_dns: Option<&str>,
) -> anyhow::Result<Authority> {
    let key = new_key()?;
    let mut b = X509Builder::new()?;
    b.set_version(2)?;
    let serial = serial()?;
    b.set_serial_number(&serial)?;
    let subject = name(common_name, "Passerelle DEVELOPMENT")?;
    b.set_subject_name(&subject)?;
    b.set_issuer_name(parent.map_or(&*subject, |p| p.cert.subject_name()))?;
    validity(&mut b, -1, days)?;
    b.set_pubkey(&key)?;
    b.append_extension(BasicConstraints::new().critical().ca().pathlen(0).build()?)?;
    b.append_extension(
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()?,
    )?;
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(None, None))?;
    b.append_extension(ski)?;
    if let Some(parent) = parent {
        let aki = AuthorityKeyIdentifier::new()
            .keyid(false)
            .build(&b.x509v3_context(Some(&parent.cert), None))?;
        b.append_extension(aki)?;
    }
    if let Some(dns) = permitted_dns {
        // The openssl crate has no builder for this extension.
        #[allow(deprecated)]
        let nc = openssl::x509::X509Extension::new_nid(
            None,
            None,
            Nid::NAME_CONSTRAINTS,
            &format!("critical,permitted;DNS:{dns}"),
        )?;
        b.append_extension(nc)?;
    }
    b.sign(parent.map_or(&key, |p| &p.key), MessageDigest::sha256())?;
    Ok(Authority {
        cert: b.build(),
        key,
    })
}

/// A leaf certificate signed by `ca`.
pub fn issue(ca: &Authority, spec: &LeafSpec<'_>) -> anyhow::Result<(X509, PKey<Private>)> {
    let key = new_key()?;
    let mut b = X509Builder::new()?;
    b.set_version(2)?;
    let serial = serial()?;
    b.set_serial_number(&serial)?;
    let subject = name(spec.common_name, "Passerelle DEVELOPMENT")?;
    b.set_subject_name(&subject)?;
    b.set_issuer_name(ca.cert.subject_name())?;
    validity(&mut b, spec.not_before_days, spec.not_after_days)?;
    b.set_pubkey(&key)?;
    b.append_extension(BasicConstraints::new().critical().build()?)?;
    b.append_extension(KeyUsage::new().critical().digital_signature().build()?)?;
    let eku = match spec.usage {
        Usage::Server => Some(ExtendedKeyUsage::new().server_auth().build()?),
        Usage::Client => Some(ExtendedKeyUsage::new().client_auth().build()?),
        Usage::Unrestricted => None,
    };
    if let Some(eku) = eku {
        b.append_extension(eku)?;
    }
    let mut san = SubjectAlternativeName::new();
    for d in &spec.dns {
        san.dns(d);
    }
    for ip in &spec.ips {
        san.ip(&ip.to_string());
    }
    let san = san.build(&b.x509v3_context(Some(&ca.cert), None))?;
    b.append_extension(san)?;
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(Some(&ca.cert), None))?;
    b.append_extension(ski)?;
    let aki = AuthorityKeyIdentifier::new()
        .keyid(false)
        .build(&b.x509v3_context(Some(&ca.cert), None))?;
    b.append_extension(aki)?;
    b.sign(&ca.key, MessageDigest::sha256())?;
    Ok((b.build(), key))
}

/// The file names of the development set for `node`.
pub fn node_files(dir: &Path, node: NodeId) -> NodeFiles {
    let n = node.as_str();
    let c = node.country().to_ascii_lowercase();
    NodeFiles {
        ca_cert: dir.join(format!("{c}-ca.pem")),
        ca_key: dir.join(format!("{c}-ca.key")),
        server_cert: dir.join(format!("{n}-server.pem")),
        server_key: dir.join(format!("{n}-server.key")),
        client_cert: dir.join(format!("{n}-client.pem")),
        client_key: dir.join(format!("{n}-client.key")),
    }
}

/// Paths of one node's development certificates.
#[derive(Debug, Clone)]
pub struct NodeFiles {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

/// The `[tls]` settings of `node` with the development set in `dir`: its own
/// certificates, and the other country's CA as the peer CA.
///
/// A checkout leaves the committed development keys readable by everyone,
/// which a node refuses: their permissions are restricted to the owner here
/// (git does not record the change).
pub fn dev_tls_settings(dir: &Path, node: NodeId) -> crate::config::TlsSettings {
    let files = node_files(dir, node);
    for key in [&files.server_key, &files.client_key] {
        let _ = owner_only(key);
    }
    crate::config::TlsSettings {
        server_cert: files.server_cert,
        server_key: files.server_key,
        client_cert: files.client_cert,
        client_key: files.client_key,
        peer_ca: vec![node_files(dir, node.counterpart()).ca_cert],
        key_passphrase_file: None,
        key_passphrase: None,
    }
}

/// Makes `path` readable and writable by its owner only.
pub fn owner_only(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// DNS names a node's server certificate carries.
pub fn server_dns(node: NodeId) -> Vec<String> {
    vec![node.as_str().to_owned(), "localhost".to_owned()]
}

/// Validity of the development set, in days.
pub const DEV_DAYS: i64 = 3650;

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    if path.extension().is_some_and(|e| e == "key") {
        owner_only(path).with_context(|| format!("cannot restrict {}", path.display()))?;
    }
    Ok(())
}

/// Writes the development PKI into `dir`: one CA per country and, for each
/// node, a server and a client certificate. Returns the files written.
pub fn init_dev(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    for node in [NodeId::NeAnltp, NodeId::NgNaptip] {
        let files = node_files(dir, node);
        let ca = new_authority(&format!("Passerelle DEV CA {}", node.country()), DEV_DAYS)?;
        write(&files.ca_cert, &ca.cert.to_pem()?)?;
        write(&files.ca_key, &ca.key.private_key_to_pem_pkcs8()?)?;
        let localhost: IpAddr = [127, 0, 0, 1].into();
        let leaves = [
            (
                Usage::Server,
                &files.server_cert,
                &files.server_key,
                server_dns(node),
                vec![localhost],
            ),
            (
                Usage::Client,
                &files.client_cert,
                &files.client_key,
                vec![node.as_str().to_owned()],
                vec![],
            ),
        ];
        for (usage, cert_path, key_path, dns, ips) in leaves {
            let (cert, key) = issue(
                &ca,
                &LeafSpec {
                    common_name: node.as_str(),
                    dns,
                    ips,
                    usage,
                    not_before_days: -1,
                    not_after_days: DEV_DAYS - 1,
                },
            )?;
            write(cert_path, &cert.to_pem()?)?;
            write(key_path, &key.private_key_to_pem_pkcs8()?)?;
            written.push(cert_path.clone());
            written.push(key_path.clone());
        }
        written.push(files.ca_cert);
        written.push(files.ca_key);
    }
    Ok(written)
}

/// Loads a CA (certificate and key) from PEM files.
pub fn load_authority(cert: &Path, key: &Path) -> anyhow::Result<Authority> {
    Ok(Authority {
        cert: X509::from_pem(
            &std::fs::read(cert).with_context(|| format!("cannot read {}", cert.display()))?,
        )?,
        key: PKey::private_key_from_pem(
            &std::fs::read(key).with_context(|| format!("cannot read {}", key.display()))?,
        )?,
    })
}
