//! Who can read a place: the read-only checks that keep raw production rows
//! (quarantine) and the copy being built (build) away from developers.
//!
//! PostgreSQL: a grantee can read a schema when it has `USAGE` on it and
//! `SELECT` on a table or column of it (`has_schema_privilege`,
//! `has_any_column_privilege`, so superusers and inherited roles count);
//! `PUBLIC` from the schema and table ACLs. MySQL: global `SELECT`
//! (`*.*`), a database grant whose pattern matches the place, table or
//! column grants, from `information_schema` (the masking user needs to see
//! other accounts' privileges, i.e. `SELECT` on the `mysql` database).

use crate::db::{Bind, Conn};
use crate::error::MaskError;
use crate::places::{Grantee, Publish};
use crate::sql::Dialect;

async fn count(conn: &mut Conn, sql: &str, binds: &[Bind<'_>]) -> Result<i64, MaskError> {
    Ok(conn
        .scalar_i64(sql, binds)
        .await
        .map_err(MaskError::db("checking privileges"))?
        .unwrap_or(0))
}

/// One problem per grantee (and PUBLIC) that can read `place`.
pub(crate) async fn readers_of(
    conn: &mut Conn,
    place: &str,
    role: &str,
    publish: &Publish,
) -> Result<Vec<String>, MaskError> {
    let mut problems = Vec::new();
    for g in &publish.grants {
        let grantee = g.parsed_grantee()?;
        if let Some(p) = grantee_reads(conn, &grantee, place, role).await? {
            problems.push(p);
        }
    }
    if let Some(p) = public_reads(conn, place, role).await? {
        problems.push(p);
    }
    Ok(problems)
}

async fn grantee_reads(
    conn: &mut Conn,
    g: &Grantee,
    place: &str,
    role: &str,
) -> Result<Option<String>, MaskError> {
    match (conn.dialect(), g) {
        (Dialect::Postgres, Grantee::Role(r)) => pg_role_reads(conn, r, place, role).await,
        (Dialect::MySql, Grantee::Account { .. }) => {
            mysql_account_reads(conn, g, place, role).await
        }
        (d, _) => Err(MaskError::Config(format!(
            "developer grantee `{g}` does not fit {d:?}"
        ))),
    }
}

async fn pg_role_reads(
    conn: &mut Conn,
    r: &str,
    place: &str,
    role: &str,
) -> Result<Option<String>, MaskError> {
    let exists = count(
        conn,
        "SELECT COUNT(*)::int8 FROM pg_roles WHERE rolname = $1",
        &[Bind::Str(r)],
    )
    .await?;
    if exists == 0 {
        return Ok(Some(format!("developer grantee `{r}` does not exist")));
    }
    let usage = count(
        conn,
        "SELECT COUNT(*)::int8 FROM pg_namespace WHERE nspname = $2 AND has_schema_privilege($1, oid, 'USAGE')",
        &[Bind::Str(r), Bind::Str(place)],
    )
    .await?;
    let tables = count(
        conn,
        "SELECT COUNT(*)::int8 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
         AND has_any_column_privilege($1, c.oid, 'SELECT')",
        &[Bind::Str(r), Bind::Str(place)],
    )
    .await?;
    Ok((usage > 0 && tables > 0).then(|| {
        format!(
            "developer grantee `{r}` can read the {role} place `{place}` (USAGE on the schema and SELECT on {tables} table(s))"
        )
    }))
}

async fn public_reads(
    conn: &mut Conn,
    place: &str,
    role: &str,
) -> Result<Option<String>, MaskError> {
    let (usage_sql, tables_sql) = match conn.dialect() {
        Dialect::Postgres => (
            "SELECT COUNT(*)::int8 FROM pg_namespace n, aclexplode(COALESCE(n.nspacl, acldefault('n', n.nspowner))) a \
             WHERE n.nspname = $1 AND a.grantee = 0 AND a.privilege_type = 'USAGE'",
            "SELECT COUNT(*)::int8 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND (\
               EXISTS (SELECT 1 FROM aclexplode(c.relacl) a WHERE a.grantee = 0 AND a.privilege_type = 'SELECT') \
               OR EXISTS (SELECT 1 FROM pg_attribute at, aclexplode(at.attacl) a \
                 WHERE at.attrelid = c.oid AND a.grantee = 0 AND a.privilege_type = 'SELECT'))",
        ),
        // MariaDB >= 10.11 has grants TO PUBLIC.
        Dialect::MySql => (
            "SELECT CAST(COUNT(*) AS SIGNED) FROM information_schema.SCHEMA_PRIVILEGES \
             WHERE GRANTEE = 'PUBLIC' AND PRIVILEGE_TYPE = 'SELECT' AND ? LIKE TABLE_SCHEMA",
            "SELECT CAST(COUNT(*) AS SIGNED) FROM information_schema.TABLE_PRIVILEGES \
             WHERE GRANTEE = 'PUBLIC' AND PRIVILEGE_TYPE = 'SELECT' AND TABLE_SCHEMA = ?",
        ),
    };
    let usage = count(conn, usage_sql, &[Bind::Str(place)]).await?;
    let tables = count(conn, tables_sql, &[Bind::Str(place)]).await?;
    let readable = match conn.dialect() {
        Dialect::Postgres => usage > 0 && tables > 0,
        Dialect::MySql => usage > 0 || tables > 0,
    };
    Ok(readable.then(|| format!("PUBLIC can read the {role} place `{place}`")))
}

async fn mysql_account_reads(
    conn: &mut Conn,
    g: &Grantee,
    place: &str,
    role: &str,
) -> Result<Option<String>, MaskError> {
    let who = g.catalog_name();
    let w = Bind::Str(&who);
    let p = Bind::Str(place);
    let known = count(
        conn,
        "SELECT CAST(COUNT(*) AS SIGNED) FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ?",
        &[w],
    )
    .await?;
    if known == 0 {
        return Ok(Some(format!(
            "developer grantee {who} does not exist or its privileges are not visible to the masking user (it needs SELECT on the mysql database)"
        )));
    }
    let checks: [(&str, &[Bind<'_>], &str); 4] = [
        (
            "SELECT CAST(COUNT(*) AS SIGNED) FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ? AND PRIVILEGE_TYPE = 'SELECT'",
            &[w],
            "global SELECT (ON *.*)",
        ),
        (
            "SELECT CAST(COUNT(*) AS SIGNED) FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = ? AND PRIVILEGE_TYPE = 'SELECT' AND ? LIKE TABLE_SCHEMA",
            &[w, p],
            "a database grant",
        ),
        (
            "SELECT CAST(COUNT(*) AS SIGNED) FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = ? AND PRIVILEGE_TYPE = 'SELECT' AND TABLE_SCHEMA = ?",
            &[w, p],
            "table grants",
        ),
        (
            "SELECT CAST(COUNT(*) AS SIGNED) FROM information_schema.COLUMN_PRIVILEGES WHERE GRANTEE = ? AND PRIVILEGE_TYPE = 'SELECT' AND TABLE_SCHEMA = ?",
            &[w, p],
            "column grants",
        ),
    ];
    let mut how = Vec::new();
    for (sql, binds, what) in checks {
        if count(conn, sql, binds).await? > 0 {
            how.push(what);
        }
    }
    Ok((!how.is_empty()).then(|| {
        format!(
            "developer grantee {who} can read the {role} place `{place}` ({})",
            how.join(", ")
        )
    }))
}
