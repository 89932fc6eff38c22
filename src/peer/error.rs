//! The peer listener's errors: every refusal is a problem document with its
//! code (its status is the code's); a failure is logged and answered with a
//! generic detail, except a database that is busy or unavailable, which the
//! other node retries.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::api::error::{db_problem, AnsweredCode, Problem};
use crate::domain::problem::ProblemCode;
use crate::store::DbError;

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// Refused with this code; the detail is safe to send to the other node.
    #[error("{1}")]
    Refused(ProblemCode, String),
    #[error(transparent)]
    Db(#[from] DbError),
    /// Logged, never sent.
    #[error("{0}")]
    Internal(String),
}

impl From<diesel::result::Error> for PeerError {
    fn from(e: diesel::result::Error) -> Self {
        PeerError::Db(DbError::Query(e))
    }
}

impl PeerError {
    fn code(&self) -> ProblemCode {
        match self {
            PeerError::Refused(code, _) => *code,
            PeerError::Db(e) => db_problem(e),
            PeerError::Internal(_) => ProblemCode::InternalError,
        }
    }
}

impl ResponseError for PeerError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code().status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let code = self.code();
        let detail = match self {
            PeerError::Refused(_, detail) => detail.clone(),
            PeerError::Db(_) if code != ProblemCode::InternalError => {
                "the database is busy or unavailable; nothing was changed, send again".to_owned()
            }
            other => {
                tracing::error!(error = %other, code = code.as_str(), "peer request failed");
                "the node could not complete the request; it has been logged".to_owned()
            }
        };
        let mut res = Problem::of(code, detail).response();
        res.extensions_mut().insert(AnsweredCode(code));
        res
    }
}
