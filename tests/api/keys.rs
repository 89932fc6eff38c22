//! A node's keys: passphrase-encrypted PEM (passphrase from a file or the
//! environment), refusal of key files other users may read, and a
//! certificate rotation: the other node accepts messages signed with the new
//! key once it trusts the new CA, and what was signed before stays
//! verifiable (messages, receipts, checkpoints).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use openssl::symm::Cipher;
use passerelle::domain::ids::NodeId;
use passerelle::startup::Application;
use passerelle::tls::pki;
use secrecy::SecretString;

use crate::audit::{checkpoint, export, verify};
use crate::exchange::{both_in, refer};
use crate::helpers::*;

/// Copies `key` to `dir` encrypted with `passphrase` (PKCS#8, AES-256-CBC).
fn encrypted_copy(key: &Path, dir: &Path, passphrase: &str) -> PathBuf {
    let k = passerelle::tls::load_key(key).unwrap();
    let pem = k
        .private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), passphrase.as_bytes())
        .unwrap();
    let out = dir.join(key.file_name().unwrap());
    std::fs::write(&out, pem).unwrap();
    pki::owner_only(&out).unwrap();
    out
}

/// Builds (does not run) a node with `tls` changed by `change`; the error
/// message if it refuses to start.
async fn start_error(change: impl Fn(&mut passerelle::config::TlsSettings)) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("node.db").display());
    let ports = Ports {
        api: 0,
        peer: 0,
        other_peer: free_port(),
    };
    let mut s = settings(NodeId::NeAnltp, dir.path(), &url, ports);
    change(&mut s.tls);
    match Application::build(s).await {
        Ok(app) => {
            let stop = app.stop_handle();
            let running = tokio::spawn(app.run_until_stopped());
            stop.stop(false).await;
            let _ = running.await;
            None
        }
        Err(e) => Some(format!("{e:#}")),
    }
}

#[tokio::test]
async fn a_node_opens_encrypted_keys_with_their_passphrase_and_refuses_keys_others_may_read() {
    let files = pki::node_files(&certs_dir(), NodeId::NeAnltp);
    let _ = tls_settings(NodeId::NeAnltp); // restricts the dev keys
    let keys = tempfile::tempdir().unwrap();
    let server_key = encrypted_copy(&files.server_key, keys.path(), "correct horse");
    let client_key = encrypted_copy(&files.client_key, keys.path(), "correct horse");
    let passphrase_file = keys.path().join("passphrase");
    std::fs::write(&passphrase_file, "correct horse\n").unwrap();
    pki::owner_only(&passphrase_file).unwrap();
    let encrypted = |tls: &mut passerelle::config::TlsSettings| {
        tls.server_key = server_key.clone();
        tls.client_key = client_key.clone();
    };

    // The passphrase from a file (its newline ignored), or from the
    // environment's PASSERELLE__TLS__KEY_PASSPHRASE (the setting).
    assert_eq!(
        start_error(|t| {
            encrypted(t);
            t.key_passphrase_file = Some(passphrase_file.clone());
        })
        .await,
        None
    );
    assert_eq!(
        start_error(|t| {
            encrypted(t);
            t.key_passphrase = Some(SecretString::from("correct horse"));
        })
        .await,
        None
    );
    // Without it, or with a wrong one: a clear refusal that names the file.
    let e = start_error(encrypted).await.unwrap();
    assert!(
        e.contains("is encrypted") && e.contains("KEY_PASSPHRASE"),
        "{e}"
    );
    let e = start_error(|t| {
        encrypted(t);
        t.key_passphrase = Some(SecretString::from("battery staple"));
    })
    .await
    .unwrap();
    assert!(
        e.contains("wrong passphrase") && e.contains("-server.key"),
        "{e}"
    );
    assert!(
        !e.contains("battery"),
        "the passphrase is never printed: {e}"
    );

    // A key file, or a passphrase file, that other users may read.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let readable = keys.path().join("readable.key");
        std::fs::copy(&files.client_key, &readable).unwrap();
        std::fs::set_permissions(&readable, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = start_error(|t| t.client_key = readable.clone())
            .await
            .unwrap();
        assert!(e.contains("chmod 600") && e.contains("readable.key"), "{e}");
        std::fs::set_permissions(&passphrase_file, std::fs::Permissions::from_mode(0o604)).unwrap();
        let e = start_error(|t| {
            encrypted(t);
            t.key_passphrase_file = Some(passphrase_file.clone());
        })
        .await
        .unwrap();
        assert!(e.contains("chmod 600") && e.contains("passphrase"), "{e}");
        // Group-readable (a service group) is allowed.
        std::fs::set_permissions(&readable, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(start_error(|t| t.client_key = readable.clone()).await, None);
    }
}

#[tokio::test]
async fn after_a_certificate_rotation_new_messages_are_accepted_and_old_signatures_still_verify() {
    let (ne, ng) = spawn_pair().await;
    let (_, before) = refer(&ne).await;
    both_in(&ne, &ng, before, "received").await;
    checkpoint(&ne).await;

    // Niger's agency rotates: a new CA, and new certificates for its node.
    let rotated = tempfile::tempdir().unwrap();
    pki::init_dev(rotated.path()).unwrap();
    let new_ne = pki::node_files(rotated.path(), NodeId::NeAnltp);
    // Abuja trusts the new CA beside the old one...
    let new_ca = new_ne.ca_cert.clone();
    ng.shut_down().await;
    let ng = ng
        .restart_with(Arc::new(move |s| s.tls.peer_ca.push(new_ca.clone())))
        .await;
    // ... and Niamey switches to its new certificates and keys.
    ne.shut_down().await;
    let files = new_ne.clone();
    let mut ne = ne
        .restart_with(Arc::new(move |s| {
            s.tls.server_cert = files.server_cert.clone();
            s.tls.server_key = files.server_key.clone();
            s.tls.client_cert = files.client_cert.clone();
            s.tls.client_key = files.client_key.clone();
        }))
        .await;
    // Niamey's caseworkers now trust its new CA too.
    ne.client = passerelle::tls::https_client(&new_ne.ca_cert).unwrap();

    // A message signed with the new key is accepted.
    let (_, after) = refer(&ne).await;
    both_in(&ne, &ng, after, "received").await;

    // Every message Abuja received verifies against the certificate kept
    // with it: the one before the rotation with the old key.
    let kept: Vec<(String, String, String)> = ng
        .db
        .read_blocking(|c| {
            use diesel::prelude::*;
            use passerelle::store::schema::{certificates as k, inbox_messages as i};
            let rows = i::table
                .inner_join(k::table.on(k::fingerprint.eq(i::signer)))
                .select((i::id, k::pem))
                .load::<(String, String)>(c)?;
            // The bodies as the node reads them (sealed at rest).
            rows.into_iter()
                .map(|(id, pem)| {
                    let row = passerelle::store::inbox::get(c, id.parse().unwrap())?.unwrap();
                    Ok((row.body, row.signature, pem))
                })
                .collect::<Result<Vec<_>, passerelle::store::DbError>>()
        })
        .unwrap();
    assert_eq!(kept.len(), 2);
    let mut signers = std::collections::HashSet::new();
    for (body, signature, pem) in &kept {
        let signed = passerelle::domain::envelope::Signed {
            body: serde_json::from_str(body).unwrap(),
            signature: signature.clone(),
        };
        let key = openssl::x509::X509::from_pem(pem.as_bytes())
            .unwrap()
            .public_key()
            .unwrap();
        signed
            .verify(&key)
            .expect("a kept message verifies with its kept certificate");
        signers.insert(pem.clone());
    }
    assert_eq!(signers.len(), 2, "one message per key");

    // Niamey's audit bundle verifies across the rotation: checkpoints signed
    // with the old key, and the new ones.
    checkpoint(&ne).await;
    let v = verify(&export(&ne)).expect("the bundle verifies across the rotation");
    assert!(v.checkpoints >= 3, "{v:?}");
}
