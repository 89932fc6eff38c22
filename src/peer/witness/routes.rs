//! The peer listener's witness routes: the last checkpoint cosigned here,
//! verifying and cosigning a checkpoint of the peer's log (a refused one is
//! kept as evidence), this node's leaf hashes as they are now, its exchange
//! records, inclusion proofs of its entries, and its side of the directory.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::Utc;

use super::{
    hashes, After, Cosigned, Included, Leaves, ProofRequest, Range, Submission, Witnessed,
    MAX_LEAVES,
};
use crate::app::audit as store;
use crate::app::audit::EvidenceRow;
use crate::app::witness::{self, Refusal};
use crate::audit::note;
use crate::audit::{origin, to_hex};
use crate::domain::problem::ProblemCode;
use crate::peer::error::PeerError;
use crate::peer::server::{ClientCertificate, PeerState};
use crate::store::{Db, DbError};

fn cert_key(
    req: &HttpRequest,
) -> Result<(openssl::pkey::PKey<openssl::pkey::Public>, Vec<u8>), PeerError> {
    let cert = req
        .conn_data::<ClientCertificate>()
        .cloned()
        .ok_or_else(|| {
            PeerError::Refused(
                ProblemCode::ClientCertificateRequired,
                "a client certificate is required".into(),
            )
        })?;
    let key = crate::peer::certificate::read(&cert.0)
        .map(|c| c.public_key.clone())
        .map_err(|_| {
            PeerError::Refused(
                ProblemCode::WrongPeerIdentity,
                "unreadable client certificate".into(),
            )
        })?;
    Ok((key, cert.0))
}

/// What this node last cosigned of the peer's log.
#[get("/peer/v1/checkpoints/latest")]
pub async fn latest(state: web::Data<PeerState>) -> Result<HttpResponse, PeerError> {
    let peer_origin = origin(state.ctx.node.counterpart());
    let size = state
        .db
        .read(move |c| store::latest_checkpoint(c, &peer_origin))
        .await?
        .map_or(0, |r| r.size.max(0) as u64);
    Ok(HttpResponse::Ok().json(Witnessed { size }))
}

/// Verifies and cosigns a checkpoint of the peer's log.
#[post("/peer/v1/checkpoints")]
pub async fn cosign(
    state: web::Data<PeerState>,
    req: HttpRequest,
    body: web::Json<Submission>,
) -> Result<HttpResponse, PeerError> {
    let (key, _) = cert_key(&req)?;
    let watch = state.db.read(crate::app::audit_watch::state).await?;
    if let (Some(at), Some(index)) = (watch.row.suspended_at, watch.row.suspended_index) {
        return Err(PeerError::Refused(
            ProblemCode::CosigningSuspended,
            format!(
                "cosigning your log is suspended since {at} UTC: entry {index} is {} since it \
                 was witnessed here; an administrator of this node must acknowledge it",
                watch.row.suspended_problem.unwrap_or_default()
            ),
        ));
    }
    let sub = body.into_inner();
    let ctx = state.ctx.clone();
    let peer = ctx.node.counterpart();
    let peer_origin = origin(peer);
    let now = Utc::now().naive_utc();
    let cp = match note::verify_checkpoint(&sub.checkpoint, &peer_origin, &key) {
        Ok(cp) if cp.origin == peer_origin => cp,
        Ok(cp) => {
            return refuse(
                &state.db,
                &sub,
                Refusal {
                    code: ProblemCode::WrongOrigin,
                    detail: format!("checkpoint of `{}`, expected `{peer_origin}`", cp.origin),
                },
            )
            .await
        }
        Err(e) => {
            return refuse(
                &state.db,
                &sub,
                Refusal {
                    code: ProblemCode::InvalidCheckpointSignature,
                    detail: format!("the checkpoint does not verify: {e}"),
                },
            )
            .await
        }
    };
    let (Some(proof), Some(leaves)) = (hashes(&sub.consistency), hashes(&sub.leaves)) else {
        return Err(PeerError::Refused(
            ProblemCode::InvalidCheckpointSubmission,
            "proof and leaves must be 64-character hex hashes".into(),
        ));
    };
    let from = sub.from_size;
    let note_text = sub.checkpoint.clone();
    let outcome = state
        .db
        .write(move |c| {
            witness::cosign(
                c,
                &ctx,
                witness::Submitted {
                    checkpoint: cp,
                    note: note_text,
                    from,
                    proof,
                    leaves,
                },
                now,
            )
        })
        .await;
    match outcome {
        Ok(Ok(line)) => Ok(HttpResponse::Ok().json(Cosigned {
            cosignature: line.trim_end().to_owned(),
        })),
        Ok(Err(r)) => refuse(&state.db, &sub, r).await,
        Err(DbError::Corrupt(m)) if m == witness::LEAVES_MISMATCH => {
            refuse(
                &state.db,
                &sub,
                Refusal {
                    code: ProblemCode::InconsistentCheckpoint,
                    detail: "the leaves sent do not give the checkpoint's root".into(),
                },
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// Keeps the refused checkpoint as evidence, raises an alert, logs it, and
/// answers with a coded problem.
async fn refuse(db: &Db, sub: &Submission, r: Refusal) -> Result<HttpResponse, PeerError> {
    tracing::warn!(code = r.code.as_str(), detail = %r.detail, "peer checkpoint refused");
    let now = Utc::now().naive_utc();
    let evidence = EvidenceRow {
        id: uuid::Uuid::now_v7().to_string(),
        origin: note::Note::parse(&sub.checkpoint)
            .ok()
            .and_then(|n| note::Checkpoint::parse_body(&n.body).ok())
            .map_or_else(|| "?".into(), |c| c.origin),
        received_at: now,
        reason: format!("{}: {}", r.code, r.detail),
        note: sub.checkpoint.clone(),
        proof: serde_json::json!({
            "from_size": sub.from_size,
            "consistency": sub.consistency,
            "leaves": sub.leaves.len(),
        })
        .to_string(),
    };
    let refusal = Refusal {
        code: r.code,
        detail: r.detail.clone(),
    };
    db.write(move |c| witness::keep_refused(c, evidence, &refusal, now))
        .await?;
    Err(PeerError::Refused(r.code, r.detail))
}

/// Leaf hashes recomputed from this node's entries `[from, to)` as they are now.
#[get("/peer/v1/audit/leaves")]
pub async fn current_leaves(
    state: web::Data<PeerState>,
    range: web::Query<Range>,
) -> Result<HttpResponse, PeerError> {
    let Range { from, to } = range.into_inner();
    if to < from || to - from > MAX_LEAVES {
        return Err(PeerError::Refused(
            ProblemCode::InvalidRange,
            format!("from ≤ to and at most {MAX_LEAVES} leaves"),
        ));
    }
    let entries = state.db.read(move |c| store::entries(c, from, to)).await?;
    let mut out = vec![None; (to - from) as usize];
    for e in entries {
        if let Some(slot) = out.get_mut((e.index - from) as usize) {
            *slot = Some(to_hex(&e.leaf_hash()));
        }
    }
    Ok(HttpResponse::Ok().json(Leaves { from, leaves: out }))
}

/// This node's exchange records (message and receipt entries) after index `after`.
#[get("/peer/v1/audit/exchange")]
pub async fn exchange(
    state: web::Data<PeerState>,
    query: web::Query<After>,
) -> Result<HttpResponse, PeerError> {
    let after = query.into_inner().after;
    let entries = state
        .db
        .read(move |c| {
            store::entries_of_kinds_after(
                c,
                crate::audit::reconcile::EXCHANGE_KINDS,
                after,
                super::reconcile::EXCHANGE_PAGE as i64,
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(entries))
}

/// Entries of this node's log with their inclusion proofs in the tree of
/// `size` entries (so that a receipt's `log_index` can be proven).
#[post("/peer/v1/audit/proofs")]
pub async fn proofs(
    state: web::Data<PeerState>,
    body: web::Json<ProofRequest>,
) -> Result<HttpResponse, PeerError> {
    let ProofRequest { size, indexes } = body.into_inner();
    if indexes.len() > 1000 {
        return Err(PeerError::Refused(
            ProblemCode::InvalidRange,
            "at most 1000 indexes".into(),
        ));
    }
    let answer = state
        .db
        .read(move |c| witness::inclusion_proofs(c, size, indexes))
        .await?
        .map(|items| {
            items
                .into_iter()
                .map(|(entry, proof)| Included {
                    entry,
                    proof: proof.iter().map(|h| to_hex(h)).collect(),
                })
                .collect::<Vec<_>>()
        });
    match answer {
        Some(items) => Ok(HttpResponse::Ok().json(items)),
        None => Err(PeerError::Refused(
            ProblemCode::InvalidRange,
            "size beyond the log or index beyond size".into(),
        )),
    }
}

/// This node's side of the directory of first-line responders (no personal data).
#[get("/peer/v1/directory")]
pub async fn directory(state: web::Data<PeerState>) -> Result<HttpResponse, PeerError> {
    let all = state.db.read(crate::app::directory::all).await?;
    Ok(HttpResponse::Ok().json(all))
}

/// Registers the witness routes on the peer listener.
/// The peer found that this node's log no longer matches what it witnessed.
#[post("/peer/v1/audit/mismatch")]
pub async fn mismatch(
    state: web::Data<PeerState>,
    body: web::Json<super::MismatchNotice>,
) -> Result<HttpResponse, PeerError> {
    let notice = body.into_inner();
    let Some(problem) = super::watch::PROBLEMS
        .iter()
        .find(|p| **p == notice.problem)
        .copied()
    else {
        return Err(PeerError::Refused(
            ProblemCode::InvalidCheckpointSubmission,
            format!(
                "unknown problem `{}`",
                notice.problem.chars().take(40).collect::<String>()
            ),
        ));
    };
    let peer = state.ctx.node.counterpart().as_str().to_owned();
    let now = state.ctx.clock.now();
    let index = notice.index;
    state
        .db
        .write(move |c| crate::app::audit_watch::record_reported(c, &peer, index, problem, now))
        .await?;
    Ok(HttpResponse::Ok().json(super::watch::Noted { recorded: true }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(latest)
        .service(mismatch)
        .service(cosign)
        .service(current_leaves)
        .service(proofs)
        .service(exchange)
        .service(directory);
}
