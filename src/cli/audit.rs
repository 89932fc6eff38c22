//! `passerelle audit …`: export a signed bundle of the log, verify one
//! offline, reconcile two nodes' bundles.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;

use crate::config::Settings;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Write a signed bundle of the log (entries, checkpoints, cosignatures,
    /// proofs, certificates) for offline verification.
    Export {
        /// Entries recorded at or after this instant (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        from: Option<String>,
        /// Entries recorded before this instant (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        to: Option<String>,
        /// The bundle file to write.
        file: PathBuf,
    },
    /// Check every hash, signature and consistency proof of a bundle,
    /// without a database or network, and say how much of the log the other
    /// node cosigned ("cosigned up to N of M entries"). Exits non-zero on
    /// any failure.
    Verify {
        /// Also fail unless the other node cosigned the whole log (the last
        /// checkpoint): a tail signed only by this node may have been
        /// rewritten by whoever holds its key.
        #[arg(long)]
        require_cosigned: bool,
        /// The bundle file.
        file: PathBuf,
    },
    /// Verify two nodes' bundles and reconcile their exchange records.
    /// Exits non-zero unless every message is matched (or rejected by both).
    Reconcile {
        /// One node's bundle.
        a: PathBuf,
        /// The other node's bundle.
        b: PathBuf,
    },
}

fn parse_instant(s: &str) -> anyhow::Result<chrono::NaiveDateTime> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.naive_utc());
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| d.and_time(chrono::NaiveTime::MIN))
        .with_context(|| format!("`{s}` is neither RFC 3339 nor YYYY-MM-DD"))
}

fn verify_file(
    path: &std::path::Path,
    require_cosigned: bool,
) -> anyhow::Result<crate::audit::bundle::Bundle> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let name = path.display().to_string();
    let mut progress = |done: u64, total: u64| {
        if total >= 100_000 {
            eprintln!("{name}: {done}/{total} entries checked");
        }
    };
    match crate::audit::bundle::verify(&text, &mut progress) {
        Ok((bundle, v)) => {
            println!(
                "OK {name}: node {}, entries [{}, {}) of {}, {} checkpoint(s), {} cosignature(s); every hash, signature and proof verifies",
                v.node, bundle.from, bundle.to, v.size, v.checkpoints, v.cosigned
            );
            let witnessed = if v.cosigned_size == v.size {
                "the whole log is witnessed by the other node".to_owned()
            } else {
                format!(
                    "entries [{}, {}) carry only this node's own signature",
                    v.cosigned_size, v.size
                )
            };
            println!(
                "{name}: cosigned up to {} of {} entries; {witnessed}",
                v.cosigned_size, v.size
            );
            if require_cosigned && v.cosigned_size < v.size {
                anyhow::bail!(
                    "{name}: the other node cosigned only {} of {} entries (--require-cosigned)",
                    v.cosigned_size,
                    v.size
                );
            }
            Ok(bundle)
        }
        Err(f) => {
            println!("FAILED {name}: {f}");
            anyhow::bail!("{name} does not verify: {f}")
        }
    }
}

pub(super) fn audit_offline(cmd: &AuditCommand) -> Option<anyhow::Result<()>> {
    match cmd {
        AuditCommand::Verify {
            file,
            require_cosigned,
        } => Some(verify_file(file, *require_cosigned).map(|_| ())),
        AuditCommand::Reconcile { a, b } => Some((|| {
            let a = verify_file(a, false)?;
            let b = verify_file(b, false)?;
            let report =
                crate::audit::reconcile::reconcile(&a.node, &a.entries, &b.node, Some(&b.entries));
            for r in &report.rows {
                println!(
                    "{}\t{} → {}\t{}\tseq {}\t{}{}",
                    r.message_id,
                    r.sender,
                    r.receiver,
                    r.message_type,
                    r.seq.map_or("-".into(), |s| s.to_string()),
                    r.status,
                    r.detail
                        .as_deref()
                        .map_or(String::new(), |d| format!(" ({d})"))
                );
            }
            let summary: Vec<String> = report
                .counts
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let bad = report
                .rows
                .iter()
                .filter(|r| r.status != "matched" && r.status != "rejected")
                .count();
            if bad == 0 {
                println!("RECONCILED: {}", summary.join(", "));
                Ok(())
            } else {
                println!("NOT RECONCILED: {}", summary.join(", "));
                anyhow::bail!("{bad} message(s) are not matched")
            }
        })()),
        AuditCommand::Export { .. } => None,
    }
}

/// Writes the signed bundle of the entries recorded in `[from, to)`.
pub(super) fn export(
    settings: &Settings,
    from: Option<&str>,
    to: Option<&str>,
    file: &Path,
) -> anyhow::Result<()> {
    let db = super::open_db(settings)?;
    let (message_key, receipt_key) = crate::tls::load_node_keys(&settings.tls)?;
    let ctx = crate::app::NodeCtx {
        node: settings.node.id,
        deadlines: settings.deadlines.clone(),
        message_key,
        receipt_key,
        clock: Default::default(),
    };
    let signer = std::fs::read_to_string(&settings.tls.client_cert)
        .with_context(|| format!("cannot read {}", settings.tls.client_cert.display()))?;
    let from = from.map(parse_instant).transpose()?;
    let to = to.map(parse_instant).transpose()?;
    let signed =
        db.write_blocking(|c| crate::app::audit::export_period(c, &ctx, from, to, &signer))?;
    let text = serde_json::to_vec(&signed)?;
    std::fs::write(file, text).with_context(|| format!("cannot write {}", file.display()))?;
    let n = signed
        .body
        .get("entries")
        .and_then(|e| e.as_array())
        .map_or(0, Vec::len);
    println!(
        "wrote {} ({n} entries, signed by {})",
        file.display(),
        settings.node.id
    );
    Ok(())
}
