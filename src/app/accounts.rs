//! Accounts and their tokens: who may call the API, and as whom. Created,
//! disabled and issued tokens by administrators on the command line; a
//! token is checked on every request.

pub use crate::store::users::{
    authenticate, create_user, issue_token, list_tokens, list_users, revoke_token, set_disabled,
    AuthFailure, Principal, User,
};
