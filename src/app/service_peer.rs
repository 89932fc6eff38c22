//! [`App`]'s use cases for the other node's messages and receipts: a batch
//! taken into the incoming chain, and a batch of receipts settling this
//! node's messages, each in one transaction.

use super::inbox::{Incoming, ReceiveError};
use super::receipts::SettleError;
use super::service::App;
use crate::domain::envelope::{Envelope, Signed};
use crate::domain::problem::ProblemCode;
use crate::store::DbError;

/// Why the batch stopped at one message: its index, its id if readable,
/// the code and the detail.
pub type BatchRefusal = (usize, Option<String>, ProblemCode, String);

impl App {
    /// Takes a batch of the other node's messages (signatures verified, each
    /// checked and parsed as `envelopes`) into the incoming chain, in order,
    /// and applies them; keeps the signer's certificate. Returns the signed
    /// receipts, and where and why the batch stopped if a message was
    /// refused outright (the ones before it are kept).
    ///
    /// The incoming chain is locked first, so that batches arriving at two
    /// replicas at once are checked in turn; a batch whose `fence` (the
    /// sending dispatcher's term) is older than one already taken in is
    /// refused whole (see [`super::leases`]).
    pub async fn receive_batch(
        &self,
        messages: Vec<Signed>,
        envelopes: Vec<Envelope>,
        signer_fingerprint: String,
        signer_pem: String,
        fence: Option<i64>,
    ) -> Result<(Vec<Signed>, Option<BatchRefusal>), DbError> {
        let (ctx, now) = (self.ctx.clone(), self.now());
        self.db
            .write(move |c| {
                let mut receipts = Vec::with_capacity(envelopes.len());
                if let Err(highest) = super::leases::fence_incoming(c, fence)? {
                    let detail = format!(
                        "this batch was sent under term {}, and a replica under term {highest} has delivered since: it lost its lease",
                        fence.unwrap_or_default()
                    );
                    let id = envelopes.first().map(|e| e.message_id.to_string());
                    return Ok((receipts, Some((0, id, ProblemCode::StaleDispatcher, detail))));
                }
                if !envelopes.is_empty() {
                    super::exchange::remember_certificate(
                        c,
                        &signer_fingerprint,
                        &signer_pem,
                        now,
                    )?;
                }
                for (i, env) in envelopes.iter().enumerate() {
                    let incoming = Incoming {
                        signed: &messages[i],
                        envelope: env,
                        signer_fingerprint: &signer_fingerprint,
                    };
                    match super::inbox::receive(c, &ctx, incoming, now) {
                        Ok(r) => receipts.push(r),
                        Err(ReceiveError::Refused { code, detail }) => {
                            let id = Some(env.message_id.to_string());
                            return Ok((receipts, Some((i, id, code, detail))));
                        }
                        Err(ReceiveError::Db(e)) => return Err(e),
                    }
                }
                Ok((receipts, None))
            })
            .await
    }

    /// Records the other node's receipts (signatures verified) for this
    /// node's messages, and what they mean here; keeps the signer's
    /// certificate. Returns the ids of the cases concerned, or why a receipt
    /// does not match its message (then nothing is recorded).
    pub async fn settle_receipts(
        &self,
        receipts: Vec<Signed>,
        signer_fingerprint: String,
        signer_pem: String,
    ) -> Result<Result<Vec<String>, String>, DbError> {
        let (ctx, now) = (self.ctx.clone(), self.now());
        self.db
            .write(move |c| {
                super::exchange::remember_certificate(c, &signer_fingerprint, &signer_pem, now)?;
                let mut cases = Vec::with_capacity(receipts.len());
                for r in &receipts {
                    match super::receipts::settle(c, &ctx, r, &signer_fingerprint, now) {
                        Ok(case) => cases.push(case),
                        Err(SettleError::Mismatch(id, why)) => {
                            return Ok(Err(format!("receipt mismatch {id}: {why}")))
                        }
                        Err(SettleError::Db(e)) => return Err(e),
                    }
                }
                Ok(Ok(cases))
            })
            .await
    }
}
