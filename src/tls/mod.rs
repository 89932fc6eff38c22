//! TLS for both listeners and the peer client, with rustls (aws-lc-rs).
//!
//! * The caseworker listener serves the node's server certificate (server
//!   authentication only), unless `http.behind_tls_proxy` says a proxy
//!   terminates TLS in front of it.
//! * The peer listener requires a client certificate that chains to one of
//!   the configured peer CAs (several may be trusted at once, for rotation),
//!   passes full RFC 5280 path validation by OpenSSL (path length and name
//!   constraints of every CA, the trusted ones included), says clientAuth in
//!   its extended key usage, and whose DNS SAN is the peer's node id.
//!   Refusals happen in the handshake; the peer listener counts, logs and
//!   audits them ([`refusals`]).
//! * The peer client trusts only the peer CAs, presents the node's client
//!   certificate, and accepts only a server certificate naming the peer node
//!   id, whatever host the peer URL uses.

pub mod chain;
pub mod pki;
pub mod refusals;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig,
    SignatureScheme,
};

use crate::config::TlsSettings;
use crate::domain::ids::NodeId;

/// The crypto provider used everywhere (no process-wide default needed).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Certificates (leaf first) from a PEM file.
pub fn load_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = X509::stack_from_pem(&read(path)?)
        .with_context(|| format!("{} is not PEM certificates", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!("{} holds no certificate", path.display());
    }
    certs
        .iter()
        .map(|c| Ok(CertificateDer::from(c.to_der()?)))
        .collect()
}

/// A private key from a PEM file (PKCS#8, SEC1 or PKCS#1), not encrypted;
/// for tools and tests (a node loads its keys with [`load_node_key`]).
pub fn load_key(path: &Path) -> anyhow::Result<PKey<Private>> {
    PKey::private_key_from_pem(&read(path)?)
        .with_context(|| format!("{} is not a PEM private key", path.display()))
}

/// Refuses a secret file (a private key, a passphrase) that users other
/// than its owner and group may read or write, or its group may write.
pub fn refuse_shared_secret_file(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o027 != 0 {
            anyhow::bail!(
                "{} is a secret but other users may read or change it (mode {:04o}); \
                 restrict it with `chmod 600 {}` (or 640 for a service group)",
                path.display(),
                mode & 0o7777,
                path.display()
            );
        }
    }
    Ok(())
}

/// A node's private key: refused when other users may read it; an
/// encrypted PEM is opened with `passphrase`.
pub fn load_node_key(
    path: &Path,
    passphrase: Option<&secrecy::SecretString>,
) -> anyhow::Result<PKey<Private>> {
    use secrecy::ExposeSecret;
    refuse_shared_secret_file(path)?;
    let pem = read(path)?;
    let encrypted = pem.windows(9).any(|w| w == b"ENCRYPTED");
    match passphrase {
        Some(p) => PKey::private_key_from_pem_passphrase(&pem, p.expose_secret().as_bytes())
            .map_err(|_| {
                anyhow::anyhow!(
                    "cannot open the private key {}: wrong passphrase, or not a PEM private key",
                    path.display()
                )
            }),
        None if encrypted => anyhow::bail!(
            "{} is encrypted: give its passphrase with tls.key_passphrase_file or \
             PASSERELLE__TLS__KEY_PASSPHRASE",
            path.display()
        ),
        None => PKey::private_key_from_pem(&pem)
            .with_context(|| format!("{} is not a PEM private key", path.display())),
    }
}

/// The node's two private keys, with one reading of the passphrase:
/// (the client key, which signs messages, checkpoints and bundles; the
/// server key, which signs receipts and cosignatures).
pub fn load_node_keys(settings: &TlsSettings) -> anyhow::Result<(PKey<Private>, PKey<Private>)> {
    let passphrase = settings.passphrase()?;
    let server_key = load_node_key(&settings.server_key, passphrase.as_ref())?;
    let client_key = load_node_key(&settings.client_key, passphrase.as_ref())?;
    Ok((client_key, server_key))
}

fn rustls_key(key: &PKey<Private>) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::try_from(key.private_key_to_pkcs8()?)
        .map_err(|e| anyhow::anyhow!("unusable private key: {e}"))
}

/// An HTTPS client (for the caseworker API) trusting only the CA in `ca`.
pub fn https_client(ca: &Path) -> anyhow::Result<reqwest::Client> {
    let mut roots = RootCertStore::empty();
    for c in load_certs(ca)? {
        roots.add(c)?;
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        // Below the server's keep-alive (5 s), so that an idle connection
        // is not reused just as the server closes it.
        .pool_idle_timeout(std::time::Duration::from_secs(3))
        .build()?)
}

/// Everything TLS a node needs, loaded once at start-up.
pub struct NodeTls {
    /// Server config of the caseworker listener (no client authentication).
    pub api_server: Arc<ServerConfig>,
    /// Server config of the peer listener (client certificate required).
    pub peer_server: Arc<ServerConfig>,
    /// Client config for talking to the peer.
    pub peer_client: ClientConfig,
    /// Key signing outgoing messages (the client certificate's key).
    pub message_key: PKey<Private>,
    /// Key signing receipts (the server certificate's key).
    pub receipt_key: PKey<Private>,
    /// PEM of the client certificate (its key signs messages and checkpoints).
    pub client_certificate_pem: String,
    /// Checks the certificates the peer signs messages with.
    pub peer_signer: PeerSigner,
}

impl NodeTls {
    pub fn load(settings: &TlsSettings, node: NodeId) -> anyhow::Result<NodeTls> {
        let provider = provider();
        let server_chain = load_certs(&settings.server_cert)?;
        let client_chain = load_certs(&settings.client_cert)?;
        let (client_key, server_key) = load_node_keys(settings)?;
        let mut roots = RootCertStore::empty();
        if settings.peer_ca.is_empty() {
            anyhow::bail!("tls.peer_ca must name at least one CA certificate file");
        }
        let mut anchors = Vec::new();
        for ca in &settings.peer_ca {
            for cert in load_certs(ca)? {
                anchors.push(cert.clone());
                roots
                    .add(cert)
                    .with_context(|| format!("{} is not a usable CA certificate", ca.display()))?;
            }
        }
        let chains = Arc::new(chain::ChainValidator::new(&anchors)?);
        let roots = Arc::new(roots);
        let peer = node.counterpart();

        let api_server = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(server_chain.clone(), rustls_key(&server_key)?)
            .context("server certificate and key do not match")?;

        let inner = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .context("cannot build the client certificate verifier")?;
        let peer_signer = PeerSigner {
            chains: chains.clone(),
            peer,
        };
        let verifier = Arc::new(PeerClientVerifier {
            inner,
            signer: peer_signer.clone(),
        });
        let peer_server = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(server_chain, rustls_key(&server_key)?)
            .context("server certificate and key do not match")?;

        let inner =
            rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .context("cannot build the server certificate verifier")?;
        let peer_name = ServerName::try_from(peer.as_str().to_owned())?;
        let mut peer_client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PeerServerVerifier { inner, peer_name }))
            .with_client_auth_cert(client_chain, rustls_key(&client_key)?)
            .context("client certificate and key do not match")?;
        peer_client.alpn_protocols = vec![b"http/1.1".to_vec()];

        Ok(NodeTls {
            api_server: Arc::new(api_server),
            peer_server: Arc::new(peer_server),
            peer_client,
            message_key: client_key,
            receipt_key: server_key,
            client_certificate_pem: std::fs::read_to_string(&settings.client_cert)
                .with_context(|| format!("cannot read {}", settings.client_cert.display()))?,
            peer_signer,
        })
    }
}

fn refusal_reason(e: &rustls::Error) -> &'static str {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => "expired",
        rustls::Error::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => {
            "not_yet_valid"
        }
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => "unknown_ca",
        rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        ) => "wrong_node_id",
        rustls::Error::InvalidCertificate(C::InvalidPurpose | C::InvalidPurposeContext { .. }) => {
            "wrong_key_usage"
        }
        rustls::Error::InvalidCertificate(C::BadSignature) => "bad_signature",
        _ => "invalid_certificate",
    }
}

/// Checks the peer's client certificate (full path validation, validity,
/// clientAuth) and that it names the peer node; every refusal is noted for
/// the peer listener ([`refusals::note`]), which counts, logs and audits it.
#[derive(Debug)]
struct PeerClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    signer: PeerSigner,
}

/// The peer's client certificate rules, also for a certificate met outside
/// a handshake (messages recovered from the peer's copies): full path
/// validation to a trusted peer CA, clientAuth, and the peer's node id.
#[derive(Debug, Clone)]
pub struct PeerSigner {
    chains: Arc<chain::ChainValidator>,
    peer: NodeId,
}

impl PeerSigner {
    /// Checks `der` with `intermediates`; the refusal code otherwise.
    pub fn check(
        &self,
        der: &[u8],
        intermediates: &[CertificateDer<'_>],
    ) -> Result<(), &'static str> {
        self.chains.validate(der, intermediates)?;
        self.usage_and_name(der)
    }

    /// clientAuth and the peer's node id (the chain checked already).
    fn usage_and_name(&self, der: &[u8]) -> Result<(), &'static str> {
        // webpki takes a certificate without an extended key usage
        // extension as good for any purpose; the peer's must say clientAuth.
        let client_auth = X509::from_der(der)
            .ok()
            .and_then(|c| c.extended_key_usage())
            .is_some_and(|u| u.contains(openssl::x509::X509ExtendedKeyUsage::SSL_CLIENT));
        if !client_auth {
            return Err("wrong_key_usage");
        }
        let named = ServerName::try_from(self.peer.as_str()).is_ok_and(|name| {
            webpki::EndEntityCert::try_from(&CertificateDer::from(der))
                .is_ok_and(|ee| ee.verify_is_valid_for_subject_name(&name).is_ok())
        });
        if !named {
            return Err("wrong_node_id");
        }
        Ok(())
    }
}

impl PeerClientVerifier {
    fn refuse(&self, reason: &'static str, cert: &CertificateDer<'_>) -> rustls::Error {
        refusals::note(reason, cert);
        let error = match reason {
            "expired" => rustls::CertificateError::Expired,
            "not_yet_valid" => rustls::CertificateError::NotValidYet,
            "unknown_ca" => rustls::CertificateError::UnknownIssuer,
            "wrong_node_id" => rustls::CertificateError::NotValidForName,
            "wrong_key_usage" => rustls::CertificateError::InvalidPurpose,
            "bad_signature" => rustls::CertificateError::BadSignature,
            _ => rustls::CertificateError::ApplicationVerificationFailure,
        };
        rustls::Error::InvalidCertificate(error)
    }
}

impl ClientCertVerifier for PeerClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // OpenSSL first: full RFC 5280 path validation, with the reason
        // people need; then webpki, which rustls relies on; then clientAuth
        // and the node id.
        self.signer
            .chains
            .validate(end_entity, intermediates)
            .map_err(|reason| self.refuse(reason, end_entity))?;
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)
            .map_err(|e| self.refuse(refusal_reason(&e), end_entity))?;
        self.signer
            .usage_and_name(end_entity)
            .map_err(|reason| self.refuse(reason, end_entity))?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Verifies the peer's server certificate as issued to the peer node id,
/// whatever host name or address the peer URL uses.
#[derive(Debug)]
struct PeerServerVerifier {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    peer_name: ServerName<'static>,
}

impl ServerCertVerifier for PeerServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner.verify_server_cert(
            end_entity,
            intermediates,
            &self.peer_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
