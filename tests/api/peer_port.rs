//! The peer port as a stranger meets it: every refused handshake, a missing
//! certificate included, is counted, logged and audited with its reason,
//! the certificate presented and the source address; full path validation
//! (path length, name constraints); a flood of bad handshakes adds a
//! bounded number of audit entries.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt;
use passerelle::domain::ids::NodeId;
use passerelle::tls::pki::{self, LeafSpec, Usage};
use reqwest::StatusCode;

use crate::exchange::{eventually, peer_client, peer_client_with_chain, ping};
use crate::helpers::{certs_dir, spawn_node, spawn_node_with, TestNode};

type Identity = (
    openssl::x509::X509,
    openssl::pkey::PKey<openssl::pkey::Private>,
);

fn leaf(usage: Usage, ca: &pki::Authority, dns: &str, from: i64, to: i64) -> Identity {
    pki::issue(
        ca,
        &LeafSpec {
            common_name: dns,
            dns: vec![dns.into()],
            ips: vec![],
            usage,
            not_before_days: from,
            not_after_days: to,
        },
    )
    .unwrap()
}

fn fingerprint(cert: &openssl::x509::X509) -> String {
    passerelle::audit::to_hex(&openssl::sha::sha256(&cert.to_der().unwrap()))
}

/// The node's `TLS handshake` refusals in its audit log.
async fn refused_handshakes(n: &TestNode) -> Vec<passerelle::audit::Entry> {
    n.audit_log()
        .await
        .into_iter()
        .filter(|e| e.kind == "refusal" && e.action == "TLS handshake")
        .collect()
}

/// Occurrences per reason code in `entries`.
fn occurrences(entries: &[passerelle::audit::Entry]) -> BTreeMap<String, i64> {
    let mut by_reason = BTreeMap::new();
    for e in entries {
        *by_reason
            .entry(e.code.clone().unwrap_or_default())
            .or_insert(0) += e.occurrences.unwrap_or(1);
    }
    by_reason
}

#[tokio::test]
async fn every_refused_handshake_is_counted_and_audited_with_reason_certificate_and_source() {
    let ne_files = pki::node_files(&certs_dir(), NodeId::NeAnltp);
    let ne_ca = pki::load_authority(&ne_files.ca_cert, &ne_files.ca_key).unwrap();
    // A second trusted CA whose certificate permits only names under
    // example.org: its certificate for `ne-anltp` must be refused.
    let extra = tempfile::tempdir().unwrap();
    let constrained = pki::constrained_authority("Constrained CA", "example.org", 10).unwrap();
    let constrained_file = extra.path().join("constrained-ca.pem");
    std::fs::write(&constrained_file, constrained.cert.to_pem().unwrap()).unwrap();
    let ng = spawn_node_with(
        NodeId::NgNaptip,
        Arc::new(move |s| s.tls.peer_ca.push(constrained_file.clone())),
    )
    .await;

    // The right certificate works.
    let good = (
        openssl::x509::X509::from_pem(&std::fs::read(&ne_files.client_cert).unwrap()).unwrap(),
        passerelle::tls::load_key(&ne_files.client_key).unwrap(),
    );
    assert_eq!(
        ping(&peer_client(&ng, Some((&good.0, &good.1))), &ng)
            .await
            .unwrap(),
        StatusCode::OK
    );

    let stranger = pki::new_authority("Somebody else's CA", 10).unwrap();
    // An intermediate CA made with the real CA's key, whose certificate
    // says pathlen:0: the chain through it is one CA too long.
    let rogue = pki::subordinate_authority(&ne_ca, "Rogue intermediate", 10).unwrap();
    let server = (
        openssl::x509::X509::from_pem(&std::fs::read(&ne_files.server_cert).unwrap()).unwrap(),
        passerelle::tls::load_key(&ne_files.server_key).unwrap(),
    );
    let cases: Vec<(&str, Vec<openssl::x509::X509>, Identity)> = {
        let single = |reason, id: Identity| (reason, vec![id.0.clone()], id);
        vec![
            single(
                "unknown_ca",
                leaf(Usage::Client, &stranger, "ne-anltp", -1, 10),
            ),
            single(
                "wrong_node_id",
                leaf(Usage::Client, &ne_ca, "ne-rogue", -1, 10),
            ),
            single(
                "wrong_node_id",
                leaf(Usage::Client, &ne_ca, "ng-naptip", -1, 10),
            ),
            single("expired", leaf(Usage::Client, &ne_ca, "ne-anltp", -10, -1)),
            single(
                "not_yet_valid",
                leaf(Usage::Client, &ne_ca, "ne-anltp", 2, 10),
            ),
            // No extended key usage at all: not good for any purpose here.
            single(
                "wrong_key_usage",
                leaf(Usage::Unrestricted, &ne_ca, "ne-anltp", -1, 10),
            ),
            // A server certificate is not a client certificate.
            single("wrong_key_usage", server),
            {
                let id = leaf(Usage::Client, &rogue, "ne-anltp", -1, 10);
                (
                    "path_length_exceeded",
                    vec![id.0.clone(), rogue.cert.clone()],
                    id,
                )
            },
            single(
                "name_constraints_violated",
                leaf(Usage::Client, &constrained, "ne-anltp", -1, 10),
            ),
        ]
    };
    for (reason, chain, (_, key)) in &cases {
        let client = peer_client_with_chain(&ng, Some((chain.iter().collect(), key)));
        let res = ping(&client, &ng).await;
        assert!(
            res.is_err(),
            "{reason}: a refused certificate must fail the handshake, got {res:?}"
        );
    }
    // No certificate at all.
    assert!(ping(&peer_client(&ng, None), &ng).await.is_err());

    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for (reason, _, _) in &cases {
        *expected.entry((*reason).to_owned()).or_default() += 1;
    }
    expected.insert("no_certificate".into(), 1);

    // Counted at once, by reason.
    let metrics = ng.metrics().await;
    for (reason, count) in &expected {
        let line = format!("passerelle_peer_tls_refusals_total{{reason=\"{reason}\"}} {count}");
        assert!(metrics.contains(&line), "missing `{line}` in\n{metrics}");
    }

    // Audited: every refusal, with the source address, the certificate's
    // fingerprint and subject when there was one.
    let entries = eventually("refused handshakes in the audit log", || async {
        let entries = refused_handshakes(&ng).await;
        (occurrences(&entries) == expected).then_some(entries)
    })
    .await;
    for e in &entries {
        assert_eq!(e.source.as_deref(), Some("127.0.0.1"), "{e:?}");
        assert_eq!(e.outcome, "refused");
    }
    let no_cert = entries
        .iter()
        .find(|e| e.code.as_deref() == Some("no_certificate"))
        .unwrap();
    assert_eq!(no_cert.actor, "anonymous");
    assert_eq!(no_cert.digest, None);
    for (reason, chain, _) in &cases {
        if *reason == "wrong_node_id" || *reason == "wrong_key_usage" {
            continue; // two certificates each; the entry shows the last
        }
        let e = entries
            .iter()
            .find(|e| e.code.as_deref() == Some(*reason))
            .unwrap();
        assert_eq!(
            e.digest.as_deref(),
            Some(fingerprint(&chain[0]).as_str()),
            "{reason}"
        );
        assert!(
            e.actor.starts_with("certificate:") && e.actor.contains("CN=ne-anltp"),
            "{reason}: {}",
            e.actor
        );
    }
    // And the right certificate still works.
    assert_eq!(
        ping(&peer_client(&ng, Some((&good.0, &good.1))), &ng)
            .await
            .unwrap(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_flood_of_bad_handshakes_adds_a_bounded_number_of_audit_entries() {
    let ng = spawn_node(NodeId::NgNaptip).await;
    let stranger = pki::new_authority("Somebody else's CA", 10).unwrap();
    let (cert, key) = leaf(Usage::Client, &stranger, "ne-anltp", -1, 10);
    let anonymous = peer_client(&ng, None);
    let strange = peer_client(&ng, Some((&cert, &key)));
    const NO_CERT: usize = 8_000;
    const STRANGER: usize = 2_000;
    let before = refused_handshakes(&ng).await.len();
    let started = Instant::now();
    let attempts = (0..NO_CERT)
        .map(|_| &anonymous)
        .chain((0..STRANGER).map(|_| &strange));
    let results: Vec<_> = futures_util::stream::iter(attempts)
        .map(|client| ping(client, &ng))
        .buffer_unordered(8)
        .collect()
        .await;
    let elapsed = started.elapsed();
    assert!(results.iter().all(|r| r.is_err()));
    let expected = BTreeMap::from([
        ("no_certificate".to_owned(), NO_CERT as i64),
        ("unknown_ca".to_owned(), STRANGER as i64),
    ]);
    let entries = eventually("the flood summarised in the audit log", || async {
        let entries = refused_handshakes(&ng).await;
        (occurrences(&entries) == expected).then_some(entries)
    })
    .await;
    // One entry per reason and source per interval (1 s here), not one per
    // handshake.
    let intervals = elapsed.as_secs() as usize + 2;
    let added = entries.len() - before;
    eprintln!(
        "{} bad handshakes in {:.1} s added {added} audit entries",
        NO_CERT + STRANGER,
        elapsed.as_secs_f64()
    );
    assert!(
        added <= 2 * intervals,
        "{added} audit entries for {} refused handshakes over {intervals} intervals",
        NO_CERT + STRANGER
    );
}
