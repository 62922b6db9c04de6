//! Integration tests, one binary: the functions against the local AWS emulator
//! (moto_server), the local databases and cargo-lambda's runtime emulator.
//! Run through `bash scripts/test.sh`, which installs and starts what they need.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cutover_cycle;
mod cutover_metrics;
mod dashboard_metrics;
mod databases;
mod faults;
mod harness;
mod lambda_binary;
mod masking_cycle;
mod post_processor;
mod publish_cycle;
mod starter;
