//! Verification that survives the deadline: each unit of verification (a
//! table, a foreign key) stores its result in `<control>.verify_results`
//! when it is done, so an invocation that stops before the deadline leaves
//! the finished units to the next one, which verifies only the rest. The
//! results are removed when the `verify` step ends, passed or failed (a
//! failed run resumed after a fix verifies everything again).

use std::collections::HashMap;

use crate::db::{Bind, Conn, Target, Val};
use crate::error::MaskError;
use crate::progress::{begin_tx, end_tx};
use crate::report::VerificationCheck;
use crate::sql::{Dialect, numbered};

/// What one unit found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UnitResult {
    pub checks: Vec<VerificationCheck>,
    pub unverifiable: Vec<String>,
    /// A table unit: its row count.
    pub rows: Option<i64>,
}

/// The stored units of one run.
#[derive(Debug)]
pub(crate) struct VerifyStore<'a> {
    target: &'a Target,
    run_id: &'a str,
}

const CHECK: &str = "check";
const UNVERIFIABLE: &str = "unverifiable";
const ROWS: &str = "rows";

impl<'a> VerifyStore<'a> {
    pub(crate) fn new(target: &'a Target, run_id: &'a str) -> Self {
        Self { target, run_id }
    }

    fn table(&self) -> String {
        self.target.ctl("verify_results")
    }

    /// Every unit stored for the run.
    pub(crate) async fn load(
        &self,
        conn: &mut Conn,
    ) -> Result<HashMap<String, UnitResult>, MaskError> {
        let sql = format!(
            "SELECT unit, kind, table_name, label, value FROM {} WHERE run_id = ? ORDER BY unit, position",
            self.table()
        );
        let rows = conn
            .rows(&numbered(conn.dialect(), &sql), &[Bind::Str(self.run_id)])
            .await
            .map_err(MaskError::db("reading stored verification results"))?;
        let mut out: HashMap<String, UnitResult> = HashMap::new();
        for r in rows {
            let text = |i: usize| r.get(i).and_then(Val::text).unwrap_or_default();
            let value = r.get(4).and_then(Val::int);
            let unit = out.entry(text(0)).or_default();
            match text(1).as_str() {
                CHECK => unit.checks.push(VerificationCheck {
                    table: text(2),
                    check: text(3),
                    violations: value.and_then(|v| u64::try_from(v).ok()).unwrap_or(0),
                }),
                UNVERIFIABLE => unit.unverifiable.push(text(3)),
                _ => unit.rows = value,
            }
        }
        Ok(out)
    }

    /// Store the result of `unit` (one transaction: a unit is stored whole
    /// or not at all; a unit already stored is left as it is).
    pub(crate) async fn save(
        &self,
        conn: &mut Conn,
        unit: &str,
        r: &UnitResult,
    ) -> Result<(), MaskError> {
        let what = format!("storing the verification of {unit}");
        begin_tx(conn, &what).await?;
        let body = self
            .save_rows(conn, unit, r)
            .await
            .map_err(MaskError::db(what.clone()));
        end_tx(conn, body, &what).await
    }

    async fn save_rows(
        &self,
        conn: &mut Conn,
        unit: &str,
        r: &UnitResult,
    ) -> Result<(), sqlx::Error> {
        let d = conn.dialect();
        let t = self.table();
        // Two runners racing on one run compute the same unit: the second
        // insert waits for the first and then leaves its rows alone.
        let cols = "(run_id, unit, position, kind, table_name, label, value)";
        let ins = match d {
            Dialect::MySql => format!("INSERT IGNORE INTO {t} {cols} VALUES (?, ?, ?, ?, ?, ?, ?)"),
            Dialect::Postgres => format!(
                "INSERT INTO {t} {cols} VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING"
            ),
        };
        let rows = r
            .checks
            .iter()
            .map(|c| {
                (
                    CHECK,
                    c.table.as_str(),
                    c.check.as_str(),
                    i64::try_from(c.violations).ok(),
                )
            })
            .chain(
                r.unverifiable
                    .iter()
                    .map(|u| (UNVERIFIABLE, "", u.as_str(), None)),
            )
            .chain(r.rows.map(|n| (ROWS, "", "", Some(n))));
        for (position, (kind, table, label, value)) in rows.enumerate() {
            let position = i64::try_from(position).unwrap_or(i64::MAX);
            conn.execute(
                &ins,
                &[
                    Bind::Str(self.run_id),
                    Bind::Str(unit),
                    Bind::I64(position),
                    Bind::Str(kind),
                    Bind::Str(table),
                    Bind::Str(label),
                    Bind::OptI64(value),
                ],
            )
            .await?;
        }
        Ok(())
    }

    /// Remove the run's stored units (best effort: they are only a cache).
    pub(crate) async fn forget(&self, conn: &mut Conn) {
        let sql = format!("DELETE FROM {} WHERE run_id = ?", self.table());
        if let Err(e) = conn
            .execute(&numbered(conn.dialect(), &sql), &[Bind::Str(self.run_id)])
            .await
        {
            tracing::warn!(run_id = self.run_id, error = %e, "stored verification results were not removed");
        }
    }
}
