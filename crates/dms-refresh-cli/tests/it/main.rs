//! The `dms-refresh` binary against the real local MariaDB and PostgreSQL
//! (`bash scripts/ensure-databases.sh` starts them), run as an operator
//! would; one test binary, shared helpers in `common`.

// Test helpers outside #[test] functions are test code too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod suggest;
mod validate;
