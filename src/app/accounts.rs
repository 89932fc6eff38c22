//! Accounts and their tokens: who may call the API, and as whom.

pub use crate::store::users::{authenticate, list_users, AuthFailure, Principal, User};
