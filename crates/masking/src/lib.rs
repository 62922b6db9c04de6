//! Masking engine and run ledger for dms-refresh target databases.
//!
//! See `README.md` in this crate for the rules-file reference, the exact
//! output of every strategy on both dialects, the control tables and the
//! resume semantics.

mod access;
mod before_after;
mod build_steps;
mod catalog;
mod check_constraints;
mod chunk_checks;
mod chunk_cursor;
mod chunk_key;
mod chunk_sql;
pub mod constraints;
pub mod coverage;
pub mod cutover;
pub mod db;
pub mod dict;
pub mod error;
mod hooks;
mod in_place_guards;
mod key_logging;
pub mod keyed;
pub mod ledger;
mod mask_step;
pub mod normalize;
pub mod outbox;
mod partitions;
pub mod places;
pub mod plan;
mod preflight;
mod progress;
mod publications;
mod publish;
pub mod raw_sql;
pub mod remask;
pub mod report;
pub mod requests;
pub mod rewrite;
mod rewrite_plan;
mod rewrite_sql;
mod rollback;
pub mod rules;
pub mod runner;
pub mod secret;
mod session;
pub mod source_db;
pub mod sql;
mod stored_value;
pub mod validate;
pub mod value_edges;
mod verify;
mod verify_store;

pub use db::{ConnectOptions, DbCredentials, Target, TlsMode};
pub use error::MaskError;
pub use ledger::{Begin, LedgerOutcome, RunState, RunStatus};
pub use outbox::OutboxMessage;
pub use places::{DeveloperGrant, Places, Privilege, Publish};
pub use publish::PlacesReport;
pub use remask::LoadStart;
pub use requests::RequestRecord;
pub use rollback::RollbackReport;
pub use rules::{
    ColumnRule, Dictionary, HookKind, HookRule, Keep, Phase, Remask, Rules, Settings, Strategy,
    TableRules,
};
pub use runner::{
    PublishReport, RunOptions, RunOutcome, RunReport, TableReport, Timings, VerificationCheck,
    VerificationReport,
};
pub use secret::{Password, Salt};
pub use sql::Dialect;
pub use validate::{ValidateOptions, ValidationReport};
