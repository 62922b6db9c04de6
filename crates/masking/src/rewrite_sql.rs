//! Pure SQL generators of the rewrite (build the masked copy) and of the
//! publish swap. Identifiers are validated by the callers and always quoted
//! here; nothing here talks to a database.

use crate::catalog::{ForeignKeyDef, ForeignSequenceDefault};
use crate::sql::{Dialect, TableRef, quote_ident, quote_literal};

/// Drop and recreate a place. MySQL keeps `charset` (`(character set,
/// collation)` of quarantine) as the database default.
pub fn recreate_place_sql(d: Dialect, place: &str, charset: Option<(&str, &str)>) -> Vec<String> {
    let q = quote_ident(d, place);
    match d {
        Dialect::Postgres => vec![
            format!("DROP SCHEMA IF EXISTS {q} CASCADE"),
            format!("CREATE SCHEMA {q}"),
        ],
        Dialect::MySql => {
            let defaults = charset
                .map(|(cs, co)| {
                    format!(
                        " CHARACTER SET {} COLLATE {}",
                        quote_ident(d, cs),
                        quote_ident(d, co)
                    )
                })
                .unwrap_or_default();
            vec![
                format!("DROP DATABASE IF EXISTS {q}"),
                format!("CREATE DATABASE {q}{defaults}"),
            ]
        }
    }
}

/// Create `build` with the definition of `source`: PostgreSQL `LIKE ...
/// INCLUDING ALL EXCLUDING INDEXES` (indexes come after the data), MySQL
/// `LIKE` (keeps indexes; no foreign keys).
pub fn create_like_sql(d: Dialect, build: &TableRef, source: &TableRef) -> String {
    match d {
        Dialect::Postgres => format!(
            "CREATE TABLE {} (LIKE {} INCLUDING ALL EXCLUDING INDEXES)",
            build.quoted(d),
            source.quoted(d)
        ),
        Dialect::MySql => format!("CREATE TABLE {} LIKE {}", build.quoted(d), source.quoted(d)),
    }
}

/// Which rows of the source a copy statement reads.
#[derive(Debug, Clone, Copy)]
pub enum CopyRows<'a> {
    /// Every row.
    All,
    /// The rows of one chunk: a condition on the source (a key, keyset or
    /// page range, with its bind placeholders).
    Where(&'a str),
    /// No row (`truncate`).
    None,
}

/// `SELECT expr AS col, ... FROM source WHERE ...`: the rows of `source` a
/// copy writes. `cols` are `(quoted column, expression)`; `delete_where` is
/// a condition whose rows are NOT copied (`(cond) IS NOT TRUE` is kept).
pub fn masked_select_sql(
    d: Dialect,
    source: &TableRef,
    cols: &[(String, String)],
    rows: CopyRows<'_>,
    delete_where: Option<&str>,
) -> String {
    let exprs = cols
        .iter()
        .map(|(c, e)| {
            if c == e {
                c.clone()
            } else {
                format!("{e} AS {c}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let mut conds = Vec::new();
    match rows {
        CopyRows::All => {}
        CopyRows::Where(cond) => conds.push(cond.to_string()),
        CopyRows::None => conds.push("1 = 0".to_string()),
    }
    if let Some(c) = delete_where {
        conds.push(format!("({c}) IS NOT TRUE"));
    }
    let filter = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    format!("SELECT {exprs} FROM {}{filter}", source.quoted(d))
}

/// `INSERT INTO build (cols) [OVERRIDING SYSTEM VALUE] <select>`.
pub fn insert_select_sql(
    d: Dialect,
    build: &TableRef,
    cols: &[(String, String)],
    select: &str,
) -> String {
    let names = cols
        .iter()
        .map(|(c, _)| c.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let overriding = match d {
        Dialect::Postgres => " OVERRIDING SYSTEM VALUE",
        Dialect::MySql => "",
    };
    format!(
        "INSERT INTO {} ({names}){overriding} {select}",
        build.quoted(d)
    )
}

/// The masked copy in one statement: [`insert_select_sql`] of
/// [`masked_select_sql`].
pub fn copy_sql(
    d: Dialect,
    build: &TableRef,
    source: &TableRef,
    cols: &[(String, String)],
    rows: CopyRows<'_>,
    delete_where: Option<&str>,
) -> String {
    let select = masked_select_sql(d, source, cols, rows, delete_where);
    insert_select_sql(d, build, cols, &select)
}

/// PostgreSQL: name of the temporary table a copy chunk stages its rows in.
pub const STAGE_TABLE: &str = "dmsr_stage";

/// PostgreSQL: the staged chunk as a table reference.
pub fn stage_table() -> TableRef {
    TableRef {
        schema: "pg_temp".into(),
        table: STAGE_TABLE.into(),
    }
}

/// PostgreSQL: the statements of a staged copy chunk, in its transaction.
/// `CREATE TABLE AS` can compute the masked rows with parallel workers
/// (`INSERT ... SELECT` cannot); the planner does not know how costly the
/// masking functions are, so parallelism is made cheap for this
/// transaction. The key blocks are the session's ([`crate::keyed`]); parallel
/// workers inherit the session's settings.
pub fn staged_copy_sql(build: &TableRef, cols: &[(String, String)], select: &str) -> [String; 3] {
    let d = Dialect::Postgres;
    let stage = quote_ident(d, STAGE_TABLE);
    let names: Vec<(String, String)> = cols.iter().map(|(c, _)| (c.clone(), c.clone())).collect();
    [
        "SET LOCAL parallel_setup_cost = 0; SET LOCAL parallel_tuple_cost = 0; \
         SET LOCAL min_parallel_index_scan_size = 0"
            .to_string(),
        format!("CREATE TEMPORARY TABLE {stage} ON COMMIT DROP AS {select}"),
        insert_select_sql(
            d,
            build,
            cols,
            &masked_select_sql(d, &stage_table(), &names, CopyRows::All, None),
        ),
    ]
}

/// PostgreSQL: `ALTER TABLE t ADD CONSTRAINT name <pg_get_constraintdef>`.
pub fn add_constraint_sql(t: &TableRef, name: &str, definition: &str) -> String {
    let d = Dialect::Postgres;
    format!(
        "ALTER TABLE {} ADD CONSTRAINT {} {definition}",
        t.quoted(d),
        quote_ident(d, name)
    )
}

/// PostgreSQL: the index `name` re-created on `t` from the
/// `pg_get_indexdef` of the source index (`CREATE [UNIQUE] INDEX name ON
/// source USING ...`): everything from ` USING ` on is kept. `None` when the
/// definition does not have that shape.
pub fn index_sql(t: &TableRef, name: &str, indexdef: &str) -> Option<String> {
    let d = Dialect::Postgres;
    let unique = if indexdef.starts_with("CREATE UNIQUE INDEX ") {
        "UNIQUE "
    } else if indexdef.starts_with("CREATE INDEX ") {
        ""
    } else {
        return None;
    };
    let tail = &indexdef[indexdef.find(" USING ")?..];
    Some(format!(
        "CREATE {unique}INDEX {} ON {}{tail}",
        quote_ident(d, name),
        t.quoted(d)
    ))
}

/// PostgreSQL: `COMMENT ON <what> IS '<comment>'`; `what` is e.g.
/// `TABLE "s"."t"`, `INDEX "s"."i"` or `CONSTRAINT "c" ON "s"."t"`.
pub fn comment_sql(what: &str, comment: &str) -> String {
    format!(
        "COMMENT ON {what} IS {}",
        quote_literal(Dialect::Postgres, comment)
    )
}

fn ident_list(d: Dialect, cols: &[String]) -> String {
    cols.iter()
        .map(|c| quote_ident(d, c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `ADD CONSTRAINT ... FOREIGN KEY` clause of `fk`, with both tables in
/// `place`.
pub fn foreign_key_clause(d: Dialect, place: &str, fk: &ForeignKeyDef) -> String {
    let parent = TableRef {
        schema: place.to_string(),
        table: fk.parent.clone(),
    };
    let mut s = format!(
        "ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({})",
        quote_ident(d, &fk.name),
        ident_list(d, &fk.child_cols),
        parent.quoted(d),
        ident_list(d, &fk.parent_cols)
    );
    if d == Dialect::Postgres && fk.match_full {
        s.push_str(" MATCH FULL");
    }
    s.push_str(&format!(
        " ON UPDATE {} ON DELETE {}",
        fk.on_update, fk.on_delete
    ));
    if d == Dialect::Postgres && fk.deferrable {
        s.push_str(" DEFERRABLE");
        if fk.deferred {
            s.push_str(" INITIALLY DEFERRED");
        }
    }
    s
}

/// `ALTER TABLE place.child <clause>, <clause>...` for foreign keys of one
/// child table (MySQL adds them in one table change).
pub fn add_foreign_keys_sql(
    d: Dialect,
    place: &str,
    child: &str,
    fks: &[&ForeignKeyDef],
) -> String {
    let t = TableRef {
        schema: place.to_string(),
        table: child.to_string(),
    };
    format!(
        "ALTER TABLE {} {}",
        t.quoted(d),
        fks.iter()
            .map(|fk| foreign_key_clause(d, place, fk))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// PostgreSQL: give a serial column of `t` its own sequence in `t`'s schema
/// (same name and parameters as the source's, owned by the column) and
/// point the column default at it. Err when the type is not an integer type.
pub fn own_sequence_sql(t: &TableRef, s: &ForeignSequenceDefault) -> Result<Vec<String>, String> {
    let d = Dialect::Postgres;
    if !matches!(s.type_name.as_str(), "smallint" | "integer" | "bigint") {
        return Err(format!(
            "{t}.{}: sequence of unexpected type {}",
            s.column, s.type_name
        ));
    }
    let seq = TableRef {
        schema: t.schema.clone(),
        table: s.sequence.clone(),
    };
    let col = quote_ident(d, &s.column);
    let cycle = if s.cycle { "CYCLE" } else { "NO CYCLE" };
    Ok(vec![
        format!(
            "CREATE SEQUENCE {} AS {} INCREMENT BY {} MINVALUE {} MAXVALUE {} START WITH {} CACHE {} {cycle} OWNED BY {}.{col}",
            seq.quoted(d),
            s.type_name,
            s.increment,
            s.min,
            s.max,
            s.start,
            s.cache,
            t.quoted(d)
        ),
        format!(
            "ALTER TABLE {} ALTER COLUMN {col} SET DEFAULT nextval({}::regclass)",
            t.quoted(d),
            quote_literal(d, &seq.quoted(d))
        ),
    ])
}

/// MySQL: one atomic `RENAME TABLE a TO b, c TO d, ...`.
pub fn rename_tables_sql(moves: &[(TableRef, TableRef)]) -> String {
    let d = Dialect::MySql;
    format!(
        "RENAME TABLE {}",
        moves
            .iter()
            .map(|(from, to)| format!("{} TO {}", from.quoted(d), to.quoted(d)))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// MySQL: the renames of a publish: every base table of live to retired,
/// then every table of build to live (so live ends with exactly the new set).
pub fn publish_moves(
    live: &str,
    retired: &str,
    build: &str,
    live_tables: &[String],
    build_tables: &[String],
) -> Vec<(TableRef, TableRef)> {
    let t = |s: &str, n: &str| TableRef {
        schema: s.to_string(),
        table: n.to_string(),
    };
    live_tables
        .iter()
        .map(|n| (t(live, n), t(retired, n)))
        .chain(build_tables.iter().map(|n| (t(build, n), t(live, n))))
        .collect()
}

/// MySQL: the renames of a rollback, through the (empty) build place: a
/// table in both live and retired swaps (`live.a TO build.a, retired.a TO
/// live.a, build.a TO retired.a`); one only in live goes to retired, one
/// only in retired comes back to live.
pub fn rollback_moves(
    live: &str,
    retired: &str,
    build: &str,
    live_tables: &[String],
    retired_tables: &[String],
) -> Vec<(TableRef, TableRef)> {
    let t = |s: &str, n: &str| TableRef {
        schema: s.to_string(),
        table: n.to_string(),
    };
    let mut out = Vec::new();
    for n in live_tables {
        if retired_tables.contains(n) {
            out.push((t(live, n), t(build, n)));
            out.push((t(retired, n), t(live, n)));
            out.push((t(build, n), t(retired, n)));
        } else {
            out.push((t(live, n), t(retired, n)));
        }
    }
    for n in retired_tables.iter().filter(|n| !live_tables.contains(n)) {
        out.push((t(retired, n), t(live, n)));
    }
    out
}

/// PostgreSQL: `LOCK TABLE a, b, ... IN ACCESS EXCLUSIVE MODE`, tables in
/// sorted order so concurrent publishers and readers lock in one order.
pub fn lock_tables_sql(tables: &[TableRef]) -> Option<String> {
    let d = Dialect::Postgres;
    let mut sorted: Vec<&TableRef> = tables.iter().collect();
    sorted.sort();
    (!sorted.is_empty()).then(|| {
        format!(
            "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
            sorted
                .iter()
                .map(|t| t.quoted(d))
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str, n: &str) -> TableRef {
        TableRef {
            schema: s.into(),
            table: n.into(),
        }
    }

    #[test]
    fn copy_statements() {
        let cols = vec![
            ("\"id\"".to_string(), "\"id\"".to_string()),
            ("\"email\"".to_string(), "md5(\"email\")".to_string()),
        ];
        let d = Dialect::Postgres;
        assert_eq!(
            copy_sql(d, &t("b", "c"), &t("q", "c"), &cols, CopyRows::All, None),
            "INSERT INTO \"b\".\"c\" (\"id\", \"email\") OVERRIDING SYSTEM VALUE SELECT \"id\", md5(\"email\") AS \"email\" FROM \"q\".\"c\""
        );
        let select = masked_select_sql(
            d,
            &t("q", "c"),
            &cols,
            CopyRows::Where("\"id\" > $1 AND \"id\" <= $2"),
            None,
        );
        assert_eq!(
            staged_copy_sql(&t("b", "c"), &cols, &select)[1..],
            [
                "CREATE TEMPORARY TABLE \"dmsr_stage\" ON COMMIT DROP AS SELECT \"id\", md5(\"email\") AS \"email\" FROM \"q\".\"c\" WHERE \"id\" > $1 AND \"id\" <= $2",
                "INSERT INTO \"b\".\"c\" (\"id\", \"email\") OVERRIDING SYSTEM VALUE SELECT \"id\", \"email\" FROM \"pg_temp\".\"dmsr_stage\""
            ]
        );
        assert_eq!(
            copy_sql(
                d,
                &t("b", "c"),
                &t("q", "c"),
                &cols,
                CopyRows::Where("\"id\" > $2 AND \"id\" <= $3"),
                Some("id < 5")
            ),
            "INSERT INTO \"b\".\"c\" (\"id\", \"email\") OVERRIDING SYSTEM VALUE SELECT \"id\", md5(\"email\") AS \"email\" FROM \"q\".\"c\" WHERE \"id\" > $2 AND \"id\" <= $3 AND (id < 5) IS NOT TRUE"
        );
        assert_eq!(
            copy_sql(
                Dialect::MySql,
                &t("b", "c"),
                &t("q", "c"),
                &cols[..1],
                CopyRows::None,
                None
            ),
            "INSERT INTO `b`.`c` (\"id\") SELECT \"id\" FROM `q`.`c` WHERE 1 = 0"
        );
    }

    #[test]
    fn ddl_statements() {
        assert_eq!(
            create_like_sql(Dialect::Postgres, &t("b", "c"), &t("q", "c")),
            "CREATE TABLE \"b\".\"c\" (LIKE \"q\".\"c\" INCLUDING ALL EXCLUDING INDEXES)"
        );
        assert_eq!(
            create_like_sql(Dialect::MySql, &t("b", "c"), &t("q", "c")),
            "CREATE TABLE `b`.`c` LIKE `q`.`c`"
        );
        assert_eq!(
            recreate_place_sql(Dialect::MySql, "b", Some(("utf8mb4", "utf8mb4_bin"))),
            vec![
                "DROP DATABASE IF EXISTS `b`",
                "CREATE DATABASE `b` CHARACTER SET `utf8mb4` COLLATE `utf8mb4_bin`"
            ]
        );
        assert_eq!(
            index_sql(
                &t("b", "p"),
                "p_lower",
                "CREATE INDEX p_lower ON q.p USING btree (lower(code)) WHERE (n > 1)"
            )
            .unwrap(),
            "CREATE INDEX \"p_lower\" ON \"b\".\"p\" USING btree (lower(code)) WHERE (n > 1)"
        );
        assert!(
            index_sql(
                &t("b", "p"),
                "u",
                "CREATE UNIQUE INDEX u ON q.p USING btree (code)"
            )
            .unwrap()
            .starts_with("CREATE UNIQUE INDEX \"u\" ON \"b\".\"p\" USING btree")
        );
        assert_eq!(index_sql(&t("b", "p"), "x", "garbage"), None);
        assert_eq!(
            comment_sql("TABLE \"b\".\"p\"", "it's"),
            "COMMENT ON TABLE \"b\".\"p\" IS E'it''s'"
        );
        assert_eq!(
            add_constraint_sql(&t("b", "p"), "p_pkey", "PRIMARY KEY (id)"),
            "ALTER TABLE \"b\".\"p\" ADD CONSTRAINT \"p_pkey\" PRIMARY KEY (id)"
        );
    }

    #[test]
    fn foreign_keys_and_sequences() {
        let fk = ForeignKeyDef {
            name: "o_c_fk".into(),
            child: "orders".into(),
            child_cols: vec!["cid".into()],
            parent_schema: "q".into(),
            parent: "customers".into(),
            parent_cols: vec!["id".into()],
            on_update: "NO ACTION",
            on_delete: "CASCADE",
            match_full: false,
            deferrable: true,
            deferred: true,
        };
        assert_eq!(
            add_foreign_keys_sql(Dialect::Postgres, "b", "orders", &[&fk]),
            "ALTER TABLE \"b\".\"orders\" ADD CONSTRAINT \"o_c_fk\" FOREIGN KEY (\"cid\") REFERENCES \"b\".\"customers\" (\"id\") ON UPDATE NO ACTION ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED"
        );
        assert_eq!(
            add_foreign_keys_sql(Dialect::MySql, "b", "orders", &[&fk, &fk]),
            "ALTER TABLE `b`.`orders` ADD CONSTRAINT `o_c_fk` FOREIGN KEY (`cid`) REFERENCES `b`.`customers` (`id`) ON UPDATE NO ACTION ON DELETE CASCADE, ADD CONSTRAINT `o_c_fk` FOREIGN KEY (`cid`) REFERENCES `b`.`customers` (`id`) ON UPDATE NO ACTION ON DELETE CASCADE"
        );
        let s = ForeignSequenceDefault {
            column: "id".into(),
            sequence: "p_id_seq".into(),
            type_name: "integer".into(),
            increment: 1,
            min: 1,
            max: 2147483647,
            start: 1,
            cache: 1,
            cycle: false,
        };
        assert_eq!(
            own_sequence_sql(&t("b", "p"), &s).unwrap(),
            vec![
                "CREATE SEQUENCE \"b\".\"p_id_seq\" AS integer INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1 NO CYCLE OWNED BY \"b\".\"p\".\"id\"",
                "ALTER TABLE \"b\".\"p\" ALTER COLUMN \"id\" SET DEFAULT nextval(E'\"b\".\"p_id_seq\"'::regclass)"
            ]
        );
        let bad = ForeignSequenceDefault {
            type_name: "text; drop".into(),
            ..s
        };
        assert!(own_sequence_sql(&t("b", "p"), &bad).is_err());
    }

    #[test]
    fn swaps() {
        let live = vec!["a".to_string(), "old_only".to_string()];
        let build = vec!["a".to_string(), "new_only".to_string()];
        assert_eq!(
            rename_tables_sql(&publish_moves("l", "r", "b", &live, &build)),
            "RENAME TABLE `l`.`a` TO `r`.`a`, `l`.`old_only` TO `r`.`old_only`, `b`.`a` TO `l`.`a`, `b`.`new_only` TO `l`.`new_only`"
        );
        assert_eq!(
            rename_tables_sql(&rollback_moves("l", "r", "b", &build, &live)),
            "RENAME TABLE `l`.`a` TO `b`.`a`, `r`.`a` TO `l`.`a`, `b`.`a` TO `r`.`a`, `l`.`new_only` TO `r`.`new_only`, `r`.`old_only` TO `l`.`old_only`"
        );
        assert_eq!(
            lock_tables_sql(&[t("l", "b"), t("b", "z"), t("l", "a")]).unwrap(),
            "LOCK TABLE \"b\".\"z\", \"l\".\"a\", \"l\".\"b\" IN ACCESS EXCLUSIVE MODE"
        );
        assert_eq!(lock_tables_sql(&[]), None);
    }
}
