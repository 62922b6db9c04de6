//! Integration tests against the real MariaDB/MySQL and PostgreSQL servers.
//! Each test creates its own database and drops it at the end; an
//! unreachable server fails the test with instructions to start it.

// Test helpers outside #[test] functions are test code too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod before_after;
mod chunk_keys;
mod common;
mod constraints;
mod coverage;
mod cutover;
mod example;
mod failures;
mod hooks;
mod keys;
mod ledger;
mod outbox;
mod partitions;
mod places_fixture;
mod publish;
mod readme_grants;
mod remask;
mod requests;
mod resume;
mod rewrite;
mod shape_checks;
mod strategies;
mod value_edges;
