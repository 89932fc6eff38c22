//! The service directory this node publishes to the other (organisations,
//! services, shelter places) and the crossing points both sides use.

pub use crate::store::crossings::{
    active_codes, all as crossing_points, upsert as set_crossing_point, CrossingPoint,
};
pub use crate::store::directory::{add_organization, add_service, all, set_capacity, Organization};
