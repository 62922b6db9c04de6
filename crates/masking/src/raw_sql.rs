//! A small lexer for the raw SQL a rules file may carry (`sql` expressions,
//! `check` predicates, `delete_where` conditions). It does not parse SQL; it
//! refuses what would let a fragment escape the place it is pasted into:
//! comments (which could hide the rest of the generated statement), `;`,
//! unbalanced parentheses and unterminated quotes, and PostgreSQL dollar
//! quotes (whose end the lexer cannot tell without the tag rules).
//!
//! The rules file does not know the engine, so string literals must be closed
//! under both readings: MySQL's (backslash escapes) and PostgreSQL's standard
//! strings (backslash is an ordinary character).

/// How a backslash inside `'...'` is read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Backslash {
    Escapes,
    Literal,
}

/// Check `text`; the error says what was found and where (1-based
/// character position).
pub fn check_fragment(text: &str) -> Result<(), String> {
    lex(text, Backslash::Escapes)?;
    lex(text, Backslash::Literal)
}

fn lex(text: &str, backslash: Backslash) -> Result<(), String> {
    let chars: Vec<char> = text.chars().collect();
    let mut depth: usize = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let at = i + 1;
        match c {
            '\'' | '"' | '`' => i = close_quote(&chars, i, backslash)?,
            '-' if next == Some('-') => return Err(format!("comment `--` at {at}")),
            '/' if next == Some('*') => return Err(format!("comment `/*` at {at}")),
            '#' => return Err(format!("`#` (a MySQL comment) at {at}")),
            ';' => return Err(format!("`;` at {at}: one expression only")),
            '$' if starts_token(&chars, i) && !next.is_some_and(|n| n.is_ascii_digit()) => {
                return Err(format!("dollar quote at {at}: use '...' literals"));
            }
            '(' => depth += 1,
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("`)` at {at} closes nothing"))?;
            }
            _ => {}
        }
        i += 1;
    }
    if depth > 0 {
        return Err(format!("{depth} unclosed `(`"));
    }
    Ok(())
}

/// Whether the character at `i` starts a token (not inside an identifier).
fn starts_token(chars: &[char], i: usize) -> bool {
    i == 0
        || !chars
            .get(i - 1)
            .is_some_and(|p| p.is_ascii_alphanumeric() || *p == '_' || *p == '$')
}

/// Index of the quote closing the one at `start` (a doubled quote is part of
/// the content).
fn close_quote(chars: &[char], start: usize, backslash: Backslash) -> Result<usize, String> {
    let q = chars[start];
    let mut i = start + 1;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && q == '\'' && backslash == Backslash::Escapes {
            i += 2;
            continue;
        }
        if c == q {
            if chars.get(i + 1) == Some(&q) {
                i += 2;
                continue;
            }
            return Ok(i);
        }
        i += 1;
    }
    let how = match backslash {
        Backslash::Escapes => " (reading `\\` as an escape, as MySQL does)",
        Backslash::Literal => " (reading `\\` as a character, as PostgreSQL does)",
    };
    Err(format!(
        "quote {q} opened at {} is not closed{how}",
        start + 1
    ))
}

#[cfg(test)]
mod tests {
    use super::check_fragment;

    #[test]
    fn accepts_ordinary_expressions() {
        for ok in [
            "upper({column})",
            "CONCAT('a''b', {column})",
            "{column} || 'x-y' || \"Col\"",
            "`a b` = 'c;d -- e /* f # g'",
            "id < 0 AND (created_at < '2020-01-01')",
            "amount * 2 - 1",
            "a$b = $1",
        ] {
            assert_eq!(check_fragment(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_what_escapes_the_fragment() {
        for (bad, what) in [
            ("1 -- rest", "comment `--`"),
            ("1 /* x */", "comment `/*`"),
            ("1 # x", "`#`"),
            ("1; DROP TABLE t", "`;`"),
            ("(1", "unclosed"),
            ("1)", "closes nothing"),
            ("'abc", "not closed"),
            ("\"abc", "not closed"),
            ("$$ x $$", "dollar quote"),
            ("$tag$ x $tag$", "dollar quote"),
            // closed for MySQL; for PostgreSQL the literal ends at \' and
            // the `)` that follows closes nothing:
            ("'a\\' ) --'", "closes nothing"),
            // closed for MySQL; for PostgreSQL a second literal is opened:
            ("'a\\''", "as PostgreSQL does"),
            // closed for PostgreSQL; for MySQL \' is an escaped quote:
            ("{column} = 'a\\'", "as MySQL does"),
        ] {
            let e = check_fragment(bad).expect_err(bad);
            assert!(e.contains(what), "{bad}: {e}");
        }
    }
}
