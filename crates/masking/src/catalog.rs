//! Read-only views of the catalog that the rewrite and publish steps need:
//! the base tables of a place, their columns, engines and triggers
//! (MySQL), indexes, constraints and serial sequences (PostgreSQL), and the
//! foreign keys among the tables of a place. Every name read here is
//! validated with [`is_valid_identifier`] by the callers before it is put in
//! SQL (and quoted there).

use crate::db::{Bind, Conn, Val};
use crate::error::MaskError;
use crate::rules::is_valid_identifier;
use crate::sql::{self, Dialect, TableRef};

fn text(r: &[Val], i: usize) -> String {
    r.get(i).and_then(Val::text).unwrap_or_default()
}

/// A base table of a place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlaceTable {
    pub name: String,
    /// MySQL storage engine.
    pub engine: Option<String>,
    /// PostgreSQL: partitioned table or partition (not supported by the
    /// rewrite).
    pub partitioned: bool,
    /// PostgreSQL: a partition, whose rows the rules declare through its
    /// partitioned table.
    pub partition: bool,
}

/// Whether the schema (PostgreSQL) / database (MySQL) exists.
pub(crate) async fn place_exists(conn: &mut Conn, place: &str) -> Result<bool, MaskError> {
    let sql = match conn.dialect() {
        Dialect::MySql => {
            "SELECT CAST(COUNT(*) AS SIGNED) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?"
        }
        Dialect::Postgres => "SELECT COUNT(*)::int8 FROM pg_namespace WHERE nspname = $1",
    };
    let n = conn
        .scalar_i64(sql, &[Bind::Str(place)])
        .await
        .map_err(MaskError::db(format!("looking up place {place}")))?;
    Ok(n.unwrap_or(0) > 0)
}

/// Base tables of a place, sorted by name (empty when the place is absent).
pub(crate) async fn base_tables(
    conn: &mut Conn,
    place: &str,
) -> Result<Vec<PlaceTable>, MaskError> {
    let sql = match conn.dialect() {
        Dialect::MySql => {
            "SELECT CAST(TABLE_NAME AS CHAR), CAST(COALESCE(ENGINE, '') AS CHAR), 'false', 'false' \
             FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' \
             ORDER BY TABLE_NAME"
        }
        Dialect::Postgres => {
            "SELECT c.relname::text, '', (c.relkind = 'p' OR c.relispartition)::text, \
             c.relispartition::text \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY c.relname COLLATE \"C\""
        }
    };
    let rows = conn
        .rows(sql, &[Bind::Str(place)])
        .await
        .map_err(MaskError::db(format!("listing the tables of {place}")))?;
    let mut out: Vec<PlaceTable> = rows
        .iter()
        .map(|r| PlaceTable {
            name: text(r, 0),
            engine: Some(text(r, 1)).filter(|e| !e.is_empty()),
            partitioned: text(r, 2) == "true",
            partition: text(r, 3) == "true",
        })
        .collect();
    // Byte order on both engines (MySQL's catalog sorts case-insensitively).
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Names of the base tables of a place, sorted.
pub(crate) async fn table_names(conn: &mut Conn, place: &str) -> Result<Vec<String>, MaskError> {
    Ok(base_tables(conn, place)
        .await?
        .into_iter()
        .map(|t| t.name)
        .collect())
}

/// A column of a table to copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CopyColumn {
    pub name: String,
    /// Generated (computed) columns are not copied: the build table
    /// computes them.
    pub generated: bool,
}

/// Columns in ordinal order.
pub(crate) async fn columns(conn: &mut Conn, t: &TableRef) -> Result<Vec<CopyColumn>, MaskError> {
    let sql = match conn.dialect() {
        Dialect::MySql => {
            "SELECT CAST(COLUMN_NAME AS CHAR), \
             CAST(EXTRA LIKE '%VIRTUAL GENERATED%' OR EXTRA LIKE '%STORED GENERATED%' OR EXTRA LIKE '%PERSISTENT GENERATED%' AS CHAR) \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION"
        }
        Dialect::Postgres => {
            "SELECT a.attname::text, CASE WHEN a.attgenerated <> '' THEN '1' ELSE '0' END \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
        }
    };
    let rows = conn
        .rows(sql, &[Bind::Str(&t.schema), Bind::Str(&t.table)])
        .await
        .map_err(MaskError::db(format!("reading the columns of {t}")))?;
    Ok(rows
        .iter()
        .map(|r| CopyColumn {
            name: text(r, 0),
            generated: text(r, 1) == "1",
        })
        .collect())
}

/// MySQL: `(table, trigger)` of every trigger on a table of the place.
pub(crate) async fn mysql_triggers(
    conn: &mut Conn,
    place: &str,
) -> Result<Vec<(String, String)>, MaskError> {
    if conn.dialect() != Dialect::MySql {
        return Ok(Vec::new());
    }
    let rows = conn
        .rows(
            "SELECT CAST(EVENT_OBJECT_TABLE AS CHAR), CAST(TRIGGER_NAME AS CHAR) FROM information_schema.TRIGGERS \
             WHERE EVENT_OBJECT_SCHEMA = ? ORDER BY 1, 2",
            &[Bind::Str(place)],
        )
        .await
        .map_err(MaskError::db(format!("reading the triggers of {place}")))?;
    Ok(rows.iter().map(|r| (text(r, 0), text(r, 1))).collect())
}

/// PostgreSQL: a PRIMARY KEY / UNIQUE / EXCLUDE constraint or a plain index,
/// with its comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IndexDef {
    /// `ALTER TABLE t ADD CONSTRAINT name <definition>`.
    Constraint {
        name: String,
        definition: String,
        comment: Option<String>,
    },
    /// `pg_get_indexdef` of an index that backs no constraint.
    Index {
        name: String,
        indexdef: String,
        comment: Option<String>,
    },
}

/// PostgreSQL: constraints backed by an index (primary key first), then the
/// other indexes of `t`.
pub(crate) async fn pg_index_defs(
    conn: &mut Conn,
    t: &TableRef,
) -> Result<Vec<IndexDef>, MaskError> {
    let rows = conn
        .rows(
            "SELECT ic.relname::text, pg_get_indexdef(i.indexrelid), COALESCE(con.contype::text, ''), \
             COALESCE(pg_get_constraintdef(con.oid), ''), \
             COALESCE(obj_description(con.oid, 'pg_constraint'), obj_description(i.indexrelid, 'pg_class')) \
             FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
             JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid \
               AND con.contype IN ('p', 'u', 'x') \
             WHERE n.nspname = $1 AND c.relname = $2 \
             ORDER BY CASE con.contype WHEN 'p' THEN 0 WHEN 'u' THEN 1 WHEN 'x' THEN 2 ELSE 3 END, ic.relname",
            &[Bind::Str(&t.schema), Bind::Str(&t.table)],
        )
        .await
        .map_err(MaskError::db(format!("reading the indexes of {t}")))?;
    Ok(rows
        .iter()
        .map(|r| match text(r, 2).as_str() {
            "" => IndexDef::Index {
                name: text(r, 0),
                indexdef: text(r, 1),
                comment: r.get(4).and_then(Val::text),
            },
            _ => IndexDef::Constraint {
                name: text(r, 0),
                definition: text(r, 3),
                comment: r.get(4).and_then(Val::text),
            },
        })
        .collect())
}

/// A referential action, normalised to the SQL keywords.
fn fk_action(code: &str) -> &'static str {
    match code.to_ascii_uppercase().as_str() {
        "C" | "CASCADE" => "CASCADE",
        "N" | "SET NULL" => "SET NULL",
        "D" | "SET DEFAULT" => "SET DEFAULT",
        "R" | "RESTRICT" => "RESTRICT",
        _ => "NO ACTION",
    }
}

/// A foreign key whose child table is in a place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ForeignKeyDef {
    pub name: String,
    pub child: String,
    pub child_cols: Vec<String>,
    /// Schema/database of the parent (may be outside the place).
    pub parent_schema: String,
    pub parent: String,
    pub parent_cols: Vec<String>,
    pub on_update: &'static str,
    pub on_delete: &'static str,
    /// `MATCH FULL` (PostgreSQL; MySQL ignores MATCH).
    pub match_full: bool,
    /// PostgreSQL: `DEFERRABLE`, and `INITIALLY DEFERRED`.
    pub deferrable: bool,
    pub deferred: bool,
}

/// Foreign keys of the tables of `place`, columns in order.
pub(crate) async fn foreign_key_defs(
    conn: &mut Conn,
    place: &str,
) -> Result<Vec<ForeignKeyDef>, MaskError> {
    let sql = match conn.dialect() {
        Dialect::MySql => {
            "SELECT CAST(k.CONSTRAINT_NAME AS CHAR), CAST(k.TABLE_NAME AS CHAR), CAST(k.REFERENCED_TABLE_SCHEMA AS CHAR), \
             CAST(k.REFERENCED_TABLE_NAME AS CHAR), CAST(k.COLUMN_NAME AS CHAR), CAST(k.REFERENCED_COLUMN_NAME AS CHAR), \
             CAST(r.UPDATE_RULE AS CHAR), CAST(r.DELETE_RULE AS CHAR), CAST(r.MATCH_OPTION AS CHAR), 'false', 'false' \
             FROM information_schema.KEY_COLUMN_USAGE k JOIN information_schema.REFERENTIAL_CONSTRAINTS r \
             ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME AND r.TABLE_NAME = k.TABLE_NAME \
             WHERE k.TABLE_SCHEMA = ? AND k.REFERENCED_TABLE_NAME IS NOT NULL \
             ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION"
        }
        Dialect::Postgres => {
            "SELECT con.conname::text, cl.relname::text, pn.nspname::text, pl.relname::text, ca.attname::text, pa.attname::text, \
             con.confupdtype::text, con.confdeltype::text, CASE con.confmatchtype WHEN 'f' THEN 'FULL' ELSE 'SIMPLE' END, \
             con.condeferrable::text, con.condeferred::text \
             FROM pg_constraint con \
             JOIN pg_class cl ON cl.oid = con.conrelid JOIN pg_namespace cn ON cn.oid = cl.relnamespace \
             JOIN pg_class pl ON pl.oid = con.confrelid JOIN pg_namespace pn ON pn.oid = pl.relnamespace \
             CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(ck, pk, ord) \
             JOIN pg_attribute ca ON ca.attrelid = con.conrelid AND ca.attnum = k.ck \
             JOIN pg_attribute pa ON pa.attrelid = con.confrelid AND pa.attnum = k.pk \
             WHERE con.contype = 'f' AND cn.nspname = $1 \
             ORDER BY cl.relname, con.conname, k.ord"
        }
    };
    let rows = conn
        .rows(sql, &[Bind::Str(place)])
        .await
        .map_err(MaskError::db(format!(
            "reading the foreign keys of {place}"
        )))?;
    let mut out: Vec<ForeignKeyDef> = Vec::new();
    for r in &rows {
        let (name, child) = (text(r, 0), text(r, 1));
        match out.last_mut() {
            Some(last) if last.name == name && last.child == child => {
                last.child_cols.push(text(r, 4));
                last.parent_cols.push(text(r, 5));
            }
            _ => out.push(ForeignKeyDef {
                name,
                child,
                child_cols: vec![text(r, 4)],
                parent_schema: text(r, 2),
                parent: text(r, 3),
                parent_cols: vec![text(r, 5)],
                on_update: fk_action(&text(r, 6)),
                on_delete: fk_action(&text(r, 7)),
                match_full: text(r, 8).eq_ignore_ascii_case("FULL"),
                deferrable: text(r, 9) == "true",
                deferred: text(r, 10) == "true",
            }),
        }
    }
    Ok(out)
}

impl ForeignKeyDef {
    /// Every name of the key is a plain identifier.
    pub(crate) fn names_are_valid(&self) -> bool {
        [&self.name, &self.child, &self.parent]
            .into_iter()
            .chain(&self.child_cols)
            .chain(&self.parent_cols)
            .all(|n| is_valid_identifier(n))
    }
}

/// PostgreSQL: a column default of a table that calls `nextval` on a
/// sequence of another schema (a serial column copied by `LIKE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ForeignSequenceDefault {
    pub column: String,
    pub sequence: String,
    /// `smallint`, `integer` or `bigint`.
    pub type_name: String,
    pub increment: i64,
    pub min: i64,
    pub max: i64,
    pub start: i64,
    pub cache: i64,
    pub cycle: bool,
}

/// PostgreSQL: defaults of `t` that use a sequence outside `t`'s schema.
pub(crate) async fn pg_foreign_sequence_defaults(
    conn: &mut Conn,
    t: &TableRef,
) -> Result<Vec<ForeignSequenceDefault>, MaskError> {
    let rows = conn
        .rows(
            "SELECT a.attname::text, s.relname::text, format_type(sq.seqtypid, NULL), sq.seqincrement::int8, \
             sq.seqmin::int8, sq.seqmax::int8, sq.seqstart::int8, sq.seqcache::int8, sq.seqcycle::text \
             FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum \
             JOIN pg_class c ON c.oid = d.adrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_depend dep ON dep.classid = 'pg_attrdef'::regclass AND dep.objid = d.oid \
               AND dep.refclassid = 'pg_class'::regclass \
             JOIN pg_class s ON s.oid = dep.refobjid AND s.relkind = 'S' \
             JOIN pg_namespace sn ON sn.oid = s.relnamespace JOIN pg_sequence sq ON sq.seqrelid = s.oid \
             WHERE n.nspname = $1 AND c.relname = $2 AND sn.nspname <> n.nspname ORDER BY a.attnum",
            &[Bind::Str(&t.schema), Bind::Str(&t.table)],
        )
        .await
        .map_err(MaskError::db(format!("reading the sequence defaults of {t}")))?;
    let int = |r: &[Val], i: usize| r.get(i).and_then(Val::int).unwrap_or(0);
    Ok(rows
        .iter()
        .map(|r| ForeignSequenceDefault {
            column: text(r, 0),
            sequence: text(r, 1),
            type_name: text(r, 2),
            increment: int(r, 3),
            min: int(r, 4),
            max: int(r, 5),
            start: int(r, 6),
            cache: int(r, 7),
            cycle: text(r, 8) == "true",
        })
        .collect())
}

/// PostgreSQL: the comment of a table (`COMMENT ON TABLE`), which `LIKE ...
/// INCLUDING COMMENTS` does not copy.
pub(crate) async fn pg_table_comment(
    conn: &mut Conn,
    t: &TableRef,
) -> Result<Option<String>, MaskError> {
    let rows = conn
        .rows(
            "SELECT obj_description(c.oid, 'pg_class') FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
            &[Bind::Str(&t.schema), Bind::Str(&t.table)],
        )
        .await
        .map_err(MaskError::db(format!("reading the comment of {t}")))?;
    Ok(rows.first().and_then(|r| r.first()).and_then(Val::text))
}

/// The primary key columns of `t`, in key order (empty without one).
pub(crate) async fn primary_key(conn: &mut Conn, t: &TableRef) -> Result<Vec<String>, MaskError> {
    let rows = conn
        .rows(
            sql::primary_key_sql(conn.dialect()),
            &[Bind::Str(&t.schema), Bind::Str(&t.table)],
        )
        .await
        .map_err(MaskError::db(format!("reading the primary key of {t}")))?;
    Ok(rows
        .iter()
        .filter_map(|r| r.first().and_then(Val::text))
        .collect())
}
