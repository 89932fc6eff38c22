//! Disagreements between the two nodes' copies of a case, as the
//! comparison found them, and a supervisor's settlement of one.

pub use crate::store::convergence::{list, open_for_case, settled_by_supervisor};
pub use crate::store::models::DisagreementRow as Disagreement;
