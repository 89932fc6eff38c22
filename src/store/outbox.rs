//! The outgoing messages' rows.

/// Delivery status of an outgoing message.
pub mod status {
    pub const PENDING: &str = "pending";
    pub const DELIVERED: &str = "delivered";
    pub const REJECTED: &str = "rejected";
    pub const SUSPENDED: &str = "suspended";
}
