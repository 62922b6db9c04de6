#![recursion_limit = "256"]
//! The post-processor Lambda: its handler, the continuation adapter, and the
//! target-database adapter that plugs the masking engine into the ledger and
//! hook ports.

pub mod continuation;
pub mod handler;
pub mod source;
pub mod target;
