//! The keyed construction of every salted strategy: HMAC-SHA256 (RFC 2104)
//! with the masking key, computed inside the database.
//!
//! Neither engine has an HMAC function, but both hash bytes with SHA-256, and
//! HMAC is two SHA-256 passes over key blocks: `H(K' ^ opad || H(K' ^ ipad ||
//! m))`, `K'` the key zero-padded to the 64-byte block (or hashed first when
//! longer). The two padded blocks are computed here, once per run, and put in
//! the session of each connection once ([`crate::session`]); the SQL only
//! refers to them, so the key is never in a statement's text.
//!
//! Every strategy hashes `domain || ':' || value` with its own domain
//! (`hash`, `email`, `fake`, `date_shift`, `noise`, `sql`), so a full-length
//! `hash` column never shows the digest another strategy derived its output
//! from.

use sha2::{Digest, Sha256};

use crate::secret::Salt;
use crate::sql::Dialect;

const BLOCK: usize = 64;

/// The message hashed to fingerprint a key: an HMAC of this constant under the
/// key names the key without revealing it.
const FINGERPRINT_MESSAGE: &[u8] = b"dms-refresh key fingerprint v1";

/// MySQL session variables holding the two key blocks (binary strings).
pub const MYSQL_INNER: &str = "@dmsr_ki";
/// See [`MYSQL_INNER`].
pub const MYSQL_OUTER: &str = "@dmsr_ko";
/// PostgreSQL settings holding the two key blocks (hex), session scope.
pub const PG_INNER_SETTING: &str = "dmsr.ki";
/// See [`PG_INNER_SETTING`].
pub const PG_OUTER_SETTING: &str = "dmsr.ko";

/// The key padded to the block and XORed with the inner and outer pads.
pub(crate) struct KeyBlocks {
    pub inner: [u8; BLOCK],
    pub outer: [u8; BLOCK],
}

impl std::fmt::Debug for KeyBlocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyBlocks(***)")
    }
}

impl KeyBlocks {
    pub(crate) fn new(salt: &Salt) -> Self {
        let key = salt.expose().as_bytes();
        let mut padded = [0u8; BLOCK];
        if key.len() > BLOCK {
            padded[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            padded[..key.len()].copy_from_slice(key);
        }
        Self {
            inner: padded.map(|b| b ^ 0x36),
            outer: padded.map(|b| b ^ 0x5c),
        }
    }

    /// HMAC-SHA256 of `message` under this key.
    pub(crate) fn mac(&self, message: &[u8]) -> [u8; 32] {
        let inner = Sha256::new()
            .chain_update(self.inner)
            .chain_update(message)
            .finalize();
        Sha256::new()
            .chain_update(self.outer)
            .chain_update(inner)
            .finalize()
            .into()
    }
}

/// The inner and outer key blocks in hex, for binding as parameters only
/// (they are the key: never log or format them into SQL text outside tests
/// and benchmarks).
pub fn session_blocks_hex(salt: &Salt) -> (String, String) {
    let k = KeyBlocks::new(salt);
    (hex(&k.inner), hex(&k.outer))
}

/// Lower-case hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The key's fingerprint: the first 16 bytes (32 hex characters) of the HMAC
/// of a fixed message. Recorded with a run; two keys with the same
/// fingerprint are the same key for every practical purpose, and the key
/// cannot be recovered from it.
pub fn key_fingerprint(salt: &Salt) -> String {
    hex(&KeyBlocks::new(salt).mac(FINGERPRINT_MESSAGE)[..16])
}

/// Lower-case hex HMAC-SHA256 of `domain || ':' || value`, the same value the
/// SQL of [`keyed_hex`] computes (for previews and tests).
pub fn keyed_hex_of(salt: &Salt, domain: &str, value: &str) -> String {
    let mut m = Vec::with_capacity(domain.len() + 1 + value.len());
    m.extend_from_slice(domain.as_bytes());
    m.push(b':');
    m.extend_from_slice(value.as_bytes());
    hex(&KeyBlocks::new(salt).mac(&m))
}

/// SQL: the lower-case hex (64 characters) HMAC-SHA256 of `domain || ':' ||
/// col-as-UTF-8-text` under the session's key blocks. `domain` is one of
/// this crate's fixed strategy names.
pub fn keyed_hex(d: Dialect, domain: &str, col: &str) -> String {
    match d {
        Dialect::MySql => format!(
            "SHA2(CONCAT({MYSQL_OUTER}, UNHEX(SHA2(CONCAT({MYSQL_INNER}, '{domain}:', CONVERT({col} USING utf8mb4)), 256))), 256)"
        ),
        Dialect::Postgres => format!(
            "encode(sha256({ko} || sha256({ki} || convert_to('{domain}:' || {col}::text, 'UTF8'))), 'hex')",
            ki = pg_block(PG_INNER_SETTING),
            ko = pg_block(PG_OUTER_SETTING),
        ),
    }
}

/// PostgreSQL: a key block from the session setting, as bytea. Written as an
/// uncorrelated sub-select so the planner computes it once per statement.
fn pg_block(setting: &str) -> String {
    format!("(SELECT decode(current_setting('{setting}'), 'hex'))")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
    #[test]
    fn mac_matches_rfc_4231_case_2() {
        let k = KeyBlocks::new(&Salt::new("Jefe"));
        assert_eq!(
            hex(&k.mac(b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    /// RFC 4231 test case 6: a 131-byte key is hashed to form the block.
    #[test]
    fn mac_hashes_keys_longer_than_a_block_rfc_4231_case_6() {
        let key = "\u{aa}".repeat(131);
        // The RFC key is 131 bytes 0xaa; build that key through a
        // byte-exact string is impossible (0xaa is not UTF-8), so compare
        // against the definition instead: a long key equals its digest.
        let long = Salt::new(key.clone());
        let digest = Sha256::digest(key.as_bytes());
        let mut padded = [0u8; BLOCK];
        padded[..32].copy_from_slice(&digest);
        assert_eq!(KeyBlocks::new(&long).inner, padded.map(|b| b ^ 0x36));
    }

    #[test]
    fn domains_separate_strategies() {
        let s = Salt::new("0123456789abcdef-key");
        assert_ne!(
            keyed_hex_of(&s, "hash", "alice@example.com"),
            keyed_hex_of(&s, "email", "alice@example.com")
        );
        assert_eq!(keyed_hex_of(&s, "hash", "x").len(), 64);
    }

    #[test]
    fn fingerprint_names_the_key_without_being_it() {
        let a = key_fingerprint(&Salt::new("0123456789abcdef-key"));
        let b = key_fingerprint(&Salt::new("0123456789abcdef-kez"));
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert_eq!(a, key_fingerprint(&Salt::new("0123456789abcdef-key")));
        assert!(!a.contains("0123456789abcdef"));
    }

    #[test]
    fn sql_refers_to_the_session_blocks_never_to_a_key() {
        let my = keyed_hex(Dialect::MySql, "hash", "`c`");
        assert!(my.contains("@dmsr_ki") && my.contains("@dmsr_ko") && my.contains("'hash:'"));
        let pg = keyed_hex(Dialect::Postgres, "email", "\"c\"");
        assert!(pg.contains("current_setting('dmsr.ki')") && pg.contains("'email:'"));
    }
}
