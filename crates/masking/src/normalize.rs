//! `normalize = "lower_trim"`: keyed strategies of a column hash a
//! normalised value, so values a case-insensitive key treats as one
//! (`'A@x.com'` and `'a@x.com '` under a MySQL `_ci` collation) keep one
//! masked value and still join after masking.
//!
//! The normalisation is defined so that both engines compute it byte for
//! byte: the ASCII letters `A`-`Z` become `a`-`z` (other characters are kept:
//! the engines' Unicode case tables differ), and leading and trailing spaces
//! (U+0020 only, as `TRIM` and `btrim` remove by default) are removed.

use crate::sql::Dialect;

/// How a column's value is normalised before a keyed strategy hashes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalize {
    /// ASCII letters lowered, leading and trailing spaces removed.
    LowerTrim,
}

const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// The SQL of the normalised `col` (already quoted).
pub fn input_expr(d: Dialect, normalize: Option<Normalize>, col: &str) -> String {
    match (normalize, d) {
        (None, _) => col.to_string(),
        (Some(Normalize::LowerTrim), Dialect::Postgres) => format!(
            "translate(btrim({col}), '{UPPER}', '{}')",
            UPPER.to_ascii_lowercase()
        ),
        // MySQL has no translate(); REPLACE matches case-sensitively whatever
        // the collation, so 26 of them lower exactly the ASCII letters.
        (Some(Normalize::LowerTrim), Dialect::MySql) => {
            UPPER.chars().fold(format!("TRIM({col})"), |e, c| {
                format!("REPLACE({e}, '{c}', '{}')", c.to_ascii_lowercase())
            })
        }
    }
}

/// The same normalisation in Rust (test oracle, operator tools).
pub fn normalized(normalize: Option<Normalize>, value: &str) -> String {
    match normalize {
        None => value.to_string(),
        Some(Normalize::LowerTrim) => value.trim_matches(' ').to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_trim_lowers_ascii_only_and_trims_spaces_only() {
        let n = Some(Normalize::LowerTrim);
        assert_eq!(normalized(n, "  Ann.Lee@Corp.COM "), "ann.lee@corp.com");
        assert_eq!(normalized(n, "\tÉLODIE "), "\tÉlodie");
        assert_eq!(normalized(None, " A "), " A ");
    }

    #[test]
    fn the_setting_applies_to_keyed_strategies_only() {
        let parse = |col: &str| {
            crate::rules::Rules::parse(&format!("[tables.t.columns]\nc = {col}\n"), "r.toml")
        };
        let r = parse("{ strategy = \"email\", normalize = \"lower_trim\" }").expect("email");
        assert_eq!(r.tables[0].columns[0].normalize, Some(Normalize::LowerTrim));
        let e = parse("{ strategy = \"partial\", keep_last = 2, normalize = \"lower_trim\" }")
            .expect_err("partial");
        assert!(e.to_string().contains("does not apply"), "{e}");
        let e = parse("{ strategy = \"hash\", normalize = \"upper\" }").expect_err("unknown");
        assert!(e.to_string().contains("expected lower_trim"), "{e}");
    }

    #[test]
    fn the_sql_wraps_the_column_once() {
        let pg = input_expr(Dialect::Postgres, Some(Normalize::LowerTrim), "\"e\"");
        assert_eq!(
            pg,
            "translate(btrim(\"e\"), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"
        );
        let my = input_expr(Dialect::MySql, Some(Normalize::LowerTrim), "`e`");
        assert!(my.starts_with("REPLACE(REPLACE(") && my.contains("TRIM(`e`)"));
        assert_eq!(my.matches("REPLACE(").count(), 26);
        assert_eq!(input_expr(Dialect::MySql, None, "`e`"), "`e`");
    }
}
