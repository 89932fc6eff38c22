//! Comparing the two nodes' chains before sending: `GET /peer/v1/channel`
//! answers what this node holds of the chains shared with the caller; the
//! dispatcher asks it once the peer answers, and holds delivery if this
//! node is behind (see [`crate::app::channels`]).

use actix_web::{get, web, HttpResponse};

use super::error::PeerError;
use super::server::PeerState;
use crate::app::channels;

/// What this node holds of the chains shared with the caller.
#[get("/peer/v1/channel")]
pub async fn held(state: web::Data<PeerState>) -> Result<HttpResponse, PeerError> {
    let held = state.db.read(channels::held).await?;
    Ok(HttpResponse::Ok().json(held))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(held);
}
