//! The domain of dms-refresh: configuration, the decisions the two Lambda
//! functions make (pure functions over plain types), the ports they act
//! through, and the AWS adapters behind those ports.

pub mod aws;
pub mod cdc_start;
pub mod config;
pub mod cutover;
pub mod events;
#[cfg(any(test, feature = "fakes"))]
pub mod fakes;
pub mod guard;
pub mod memory;
pub mod metrics;
pub mod moves;
pub mod notify;
pub mod placement;
pub mod ports;
pub mod post;
pub mod reconcile;
pub mod runs;
pub mod schedule;
pub mod starter;
pub mod task;
