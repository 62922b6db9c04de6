//! Masking engine and run ledger for dms-refresh target databases.
//!
//! See `README.md` in this crate for the rules-file reference, the exact
//! output of every strategy on both dialects, the control tables and the
//! resume semantics.

pub mod db;
pub mod dict;
pub mod error;
mod hooks;
pub mod ledger;
pub mod plan;
mod preflight;
mod progress;
pub mod report;
pub mod rules;
pub mod runner;
pub mod secret;
mod session;
pub mod sql;
mod verify;

pub use db::{DbCredentials, Target, TlsMode};
pub use error::MaskError;
pub use ledger::{Begin, LedgerOutcome, RunState, RunStatus};
pub use rules::{
    ColumnRule, Dictionary, HookKind, HookRule, Keep, Phase, Rules, Settings, Strategy, TableRules,
};
pub use runner::{
    RunOptions, RunOutcome, RunReport, TableReport, Timings, VerificationCheck, VerificationReport,
};
pub use secret::{Password, Salt};
pub use sql::Dialect;
