//! The checked-in development PKI (`certs-dev/`) is complete and usable: it
//! fails when a certificate is missing, expires within a year, or no longer
//! matches what `passerelle certs init` produces. `PASSERELLE_REGENERATE=1`
//! regenerates it when it does not pass.

use openssl::nid::Nid;
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::{X509StoreContext, X509};
use passerelle::domain::ids::NodeId;
use passerelle::tls::pki;

use crate::helpers::certs_dir;

fn load(path: &std::path::Path) -> Result<X509, String> {
    let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    X509::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))
}

fn check_set() -> Result<(), String> {
    let in_a_year = openssl::asn1::Asn1Time::days_from_now(365).map_err(|e| e.to_string())?;
    for node in [NodeId::NeAnltp, NodeId::NgNaptip] {
        let f = pki::node_files(&certs_dir(), node);
        let ca = load(&f.ca_cert)?;
        let mut store = X509StoreBuilder::new().map_err(|e| e.to_string())?;
        store.add_cert(ca.clone()).map_err(|e| e.to_string())?;
        let store = store.build();
        for (path, key, server) in [
            (&f.server_cert, &f.server_key, true),
            (&f.client_cert, &f.client_key, false),
        ] {
            let cert = load(path)?;
            let mut ctx = X509StoreContext::new().map_err(|e| e.to_string())?;
            let chain = Stack::new().map_err(|e| e.to_string())?;
            let ok = ctx
                .init(&store, &cert, &chain, |c| c.verify_cert())
                .map_err(|e| e.to_string())?;
            if !ok {
                return Err(format!(
                    "{} does not chain to {}",
                    path.display(),
                    f.ca_cert.display()
                ));
            }
            if cert.not_after() < in_a_year || ca.not_after() < in_a_year {
                return Err(format!("{} expires within a year", path.display()));
            }
            let names: Vec<String> = cert
                .subject_alt_names()
                .map(|n| {
                    n.iter()
                        .filter_map(|g| g.dnsname().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let expected = if server {
                pki::server_dns(node)
            } else {
                vec![node.as_str().to_owned()]
            };
            if names != expected {
                return Err(format!(
                    "{} names {names:?}, expected {expected:?}",
                    path.display()
                ));
            }
            let subject = cert
                .subject_name()
                .entries_by_nid(Nid::COMMONNAME)
                .next()
                .and_then(|e| e.data().to_string().ok())
                .map(|s| s.to_string());
            if subject.as_deref() != Some(node.as_str()) {
                return Err(format!("{} has common name {subject:?}", path.display()));
            }
            let private = passerelle::tls::load_key(key).map_err(|e| e.to_string())?;
            let public = cert.public_key().map_err(|e| e.to_string())?;
            if !public.public_eq(&private) {
                return Err(format!(
                    "{} does not match {}",
                    key.display(),
                    path.display()
                ));
            }
        }
    }
    // And the node itself accepts the set (verifiers, key pairs).
    for node in [NodeId::NeAnltp, NodeId::NgNaptip] {
        passerelle::tls::NodeTls::load(&crate::helpers::tls_settings(node), node)
            .map_err(|e| format!("{e:#}"))?;
    }
    Ok(())
}

#[test]
fn the_development_certificates_are_complete_and_valid() {
    let readme = std::fs::read_to_string(certs_dir().join("README.md")).unwrap();
    assert!(readme.contains("DEVELOPMENT ONLY"));
    if let Err(problem) = check_set() {
        if std::env::var_os("PASSERELLE_REGENERATE").is_some() {
            pki::init_dev(&certs_dir()).unwrap();
            check_set().unwrap();
            return;
        }
        panic!("certs-dev/ is out of date ({problem}): run `PASSERELLE_REGENERATE=1 cargo test --test api certs` and commit the result");
    }
}
