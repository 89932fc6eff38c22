//! Comparing the two nodes' chains before sending: `GET /peer/v1/channel`
//! answers what this node holds of the chains shared with the caller; the
//! dispatcher asks it once the peer answers, and holds delivery if this
//! node is behind (see [`crate::app::channels`]).

use std::sync::Arc;

use actix_web::{get, web, HttpResponse};

use super::client::PeerClient;
use super::error::PeerError;
use super::server::PeerState;
use crate::app::channels::{self, Resent};
use crate::app::NodeCtx;
use crate::domain::envelope::{self, Signed};
use crate::store::Db;
use crate::tls::PeerSigner;

/// What this node holds of the chains shared with the caller.
#[get("/peer/v1/channel")]
pub async fn held(state: web::Data<PeerState>) -> Result<HttpResponse, PeerError> {
    let held = state.db.read(channels::held).await?;
    Ok(HttpResponse::Ok().json(held))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct After {
    pub after: i64,
}

/// This node's messages after `after` that the caller receipted, again:
/// the caller lost them (restored from an older backup).
#[get("/peer/v1/channel/sent")]
pub async fn sent(
    state: web::Data<PeerState>,
    req: actix_web::HttpRequest,
    q: web::Query<After>,
) -> Result<HttpResponse, PeerError> {
    let after = q.into_inner().after.max(0);
    let (ctx, as_batch) = (
        state.ctx.clone(),
        super::server::ReceiptForm::of(&req).batch,
    );
    let resent = state
        .db
        .read(move |c| channels::resend(c, &ctx, after, as_batch))
        .await?;
    Ok(HttpResponse::Ok().json(resent))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(held).service(sent);
}

/// Takes again, from the peer's copies, the peer's messages this node had
/// receipted but no longer holds (a restore from an older backup): each
/// signed by a certificate that passes the peer listener's rules, in
/// sequence order, through the same checks and chain as any message.
/// Returns how many were taken, or why recovery stopped.
pub async fn recover_incoming(
    db: &Db,
    ctx: &Arc<NodeCtx>,
    client: &PeerClient,
    signer: &PeerSigner,
) -> Result<u64, String> {
    let app = crate::app::service::App::new(db.clone(), ctx.clone());
    let mut taken = 0;
    loop {
        let after = db
            .read(channels::incoming_seq)
            .await
            .map_err(|e| e.to_string())?;
        let (resent, _): (Resent, _) = client
            .get(&format!("/peer/v1/channel/sent?after={after}"))
            .await
            .map_err(|e| format!("the other node did not send its copies: {e}"))?;
        if resent.messages.is_empty() {
            return Ok(taken);
        }
        // The certificates that pass the peer's rules, and their keys.
        let signers: Vec<(Vec<u8>, String, openssl::pkey::PKey<openssl::pkey::Public>)> = resent
            .signer_certificates
            .iter()
            .filter_map(|pem| openssl::x509::X509::from_pem(pem.as_bytes()).ok())
            .filter_map(|c| Some((c.to_der().ok()?, c.public_key().ok()?, c)))
            .filter(|(der, _, _)| signer.check(der, &[]).is_ok())
            .filter_map(|(der, key, c)| {
                let pem = String::from_utf8(c.to_pem().ok()?).ok()?;
                Some((der, pem, key))
            })
            .collect();
        for message in resent.messages {
            let seq = message
                .body
                .get("seq")
                .and_then(|s| s.as_i64())
                .unwrap_or(0);
            let Some((der, pem, _)) = signers.iter().find(|(_, _, k)| message.verify(k).is_ok())
            else {
                return Err(format!(
                    "the other node's copy of its message {seq} does not verify with its \
                     certificates (its content may have been erased after a consent withdrawal)"
                ));
            };
            let env = super::server::check(&message, ctx.node)
                .map_err(|r| format!("message {seq}: {} ({})", r.code.as_str(), r.detail))?;
            let (fp, pem) = (envelope::fingerprint(der), pem.clone());
            let batch: Vec<Signed> = vec![message];
            let (_, refused) = app
                .receive_batch(batch, vec![env], fp, pem, None)
                .await
                .map_err(|e| e.to_string())?;
            if let Some((_, _, code, detail)) = refused {
                return Err(format!("message {seq}: {} ({detail})", code.as_str()));
            }
            taken += 1;
        }
    }
}
