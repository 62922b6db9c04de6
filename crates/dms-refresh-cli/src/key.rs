//! The masking key of `validate`: read from `--key-file` (the run's own key,
//! so the samples show what the run writes) or generated at random for one
//! validation. The key itself is never printed; its fingerprint (the one a
//! run records in its ledger) may be.

use std::path::Path;

use masking::Salt;
use masking::keyed::key_fingerprint;
use masking::runner::MIN_SALT_LEN;
use serde::Serialize;
use serde_json::Value;

/// Where the key of a validation came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum KeySource {
    /// `--key-file`: the masked values are those of a run with this key.
    File {
        /// The key's fingerprint ([`key_fingerprint`]), as runs record it.
        fingerprint: String,
    },
    /// Generated for this validation only.
    Random,
}

/// The key held in `path`, and where it came from.
pub fn from_file(path: &Path) -> Result<(Salt, KeySource), String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("cannot read --key-file {}: {e}", path.display()))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("--key-file {}: the key is not UTF-8 text", path.display()))?;
    let key = parse_key(&text).map_err(|e| format!("--key-file {}: {e}", path.display()))?;
    let salt = Salt::new(key);
    let fingerprint = key_fingerprint(&salt);
    Ok((salt, KeySource::File { fingerprint }))
}

/// A random key (32 bytes from the operating system, in hex) for one
/// validation.
pub fn random() -> Result<(Salt, KeySource), String> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| format!("cannot generate a random masking key: {e}"))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok((Salt::new(hex), KeySource::Random))
}

/// The key in a key file: the file holds the salt secret's value, the key
/// itself or a JSON object with a `salt` key, as the post-processor reads
/// it; trailing line breaks (an editor's, or `aws ... --output text`) are
/// not part of it. Errors never quote the content.
pub fn parse_key(content: &str) -> Result<String, String> {
    let content = content.trim_end_matches(['\n', '\r']);
    let key = match serde_json::from_str::<Value>(content) {
        Ok(Value::Object(map)) => match map.get("salt").and_then(Value::as_str) {
            Some(salt) => salt.to_string(),
            None => return Err("a JSON object without a string `salt` key".into()),
        },
        _ => content.to_string(),
    };
    let n = key.chars().count();
    if n < MIN_SALT_LEN {
        return Err(format!(
            "the key has {n} characters; the masking run needs at least {MIN_SALT_LEN}"
        ));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_holds_the_key_or_the_secret_json() {
        assert_eq!(
            parse_key("0123456789abcdef-key\n").unwrap(),
            "0123456789abcdef-key"
        );
        assert_eq!(
            parse_key("0123456789abcdef-key\r\n").unwrap(),
            "0123456789abcdef-key"
        );
        assert_eq!(
            parse_key(r#"{"salt": "0123456789abcdef-key"}"#).unwrap(),
            "0123456789abcdef-key"
        );
        assert_eq!(
            parse_key(" spaces count 0123 ").unwrap(),
            " spaces count 0123 ",
            "only line breaks at the end are dropped"
        );
    }

    #[test]
    fn short_keys_and_bad_json_are_refused_without_quoting_them() {
        let e = parse_key("short-key\n").unwrap_err();
        assert!(
            e.contains("9 characters") && !e.contains("short-key"),
            "{e}"
        );
        let e = parse_key(r#"{"key": "0123456789abcdef-key"}"#).unwrap_err();
        assert!(e.contains("`salt`") && !e.contains("0123456789"), "{e}");
    }

    #[test]
    fn random_keys_are_long_enough_and_differ() {
        let (a, source) = random().unwrap();
        let (b, _) = random().unwrap();
        assert_eq!(source, KeySource::Random);
        assert_eq!(a.expose().len(), 64);
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn a_file_key_is_named_by_its_fingerprint() {
        let path = std::env::temp_dir().join(format!("dmsr_key_{}.txt", std::process::id()));
        std::fs::write(&path, "0123456789abcdef-key\n").unwrap();
        let (salt, source) = from_file(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(salt.expose(), "0123456789abcdef-key");
        let json = serde_json::to_value(&source).unwrap();
        assert_eq!(json["source"], "file");
        assert_eq!(json["fingerprint"], key_fingerprint(&salt));
        assert!(!json.to_string().contains("0123456789abcdef-key"));
        assert!(
            from_file(Path::new("/nonexistent/dmsr/key"))
                .unwrap_err()
                .contains("cannot read --key-file")
        );
    }
}
