//! Masking engine and run ledger for dms-refresh target databases.
//!
//! See `README.md` in this crate for the rules-file reference, the exact
//! output of every strategy on both dialects, the control tables and the
//! resume semantics.

mod access;
mod build_steps;
mod catalog;
pub mod constraints;
pub mod coverage;
pub mod db;
pub mod dict;
pub mod error;
mod hooks;
mod in_place_guards;
mod key_logging;
pub mod keyed;
pub mod ledger;
pub mod outbox;
pub mod places;
pub mod plan;
mod preflight;
mod progress;
mod publications;
mod publish;
pub mod raw_sql;
pub mod report;
pub mod rewrite;
mod rewrite_plan;
mod rewrite_sql;
mod rollback;
pub mod rules;
pub mod runner;
pub mod secret;
mod session;
pub mod sql;
pub mod value_edges;
mod verify;

pub use db::{DbCredentials, Target, TlsMode};
pub use error::MaskError;
pub use ledger::{Begin, LedgerOutcome, RunState, RunStatus};
pub use outbox::OutboxMessage;
pub use places::{DeveloperGrant, Places, Privilege, Publish};
pub use publish::PlacesReport;
pub use rollback::RollbackReport;
pub use rules::{
    ColumnRule, Dictionary, HookKind, HookRule, Keep, Phase, Rules, Settings, Strategy, TableRules,
};
pub use runner::{
    PublishReport, RunOptions, RunOutcome, RunReport, TableReport, Timings, VerificationCheck,
    VerificationReport,
};
pub use secret::{Password, Salt};
pub use sql::Dialect;
