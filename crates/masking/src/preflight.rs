//! Pre-flight: compile generated statements without changing anything, so
//! raw SQL the server rejects (syntax, unknown function or column) fails the
//! run before any write.

use crate::db::Conn;
use crate::error::{MaskError, is_transient};

/// A statement to compile. It must not change anything when executed
/// (callers append `WHERE 1 = 0` / `AND 1 = 0`); it runs in a transaction
/// that is rolled back anyway.
#[derive(Debug)]
pub(crate) struct Probe {
    pub sql: String,
    /// What it is, for the error (`file:line (key): masking UPDATE`).
    pub what: String,
}

/// Execute every probe; collect rejected ones into one
/// [`MaskError::Schema`]. A transient error is returned as such.
pub(crate) async fn compile_all(conn: &mut Conn, probes: &[Probe]) -> Result<(), MaskError> {
    let mut problems = Vec::new();
    for p in probes {
        let r: Result<(), sqlx::Error> = async {
            conn.begin().await?;
            conn.execute(&p.sql, &[]).await?;
            Ok(())
        }
        .await;
        conn.rollback().await;
        if let Err(e) = r {
            if is_transient(&e) {
                return Err(MaskError::Database {
                    context: format!("pre-flight of {}", p.what),
                    source: e,
                });
            }
            problems.push(format!(
                "{}: the generated SQL is rejected by the server: {e}",
                p.what
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(MaskError::Schema { problems })
    }
}
