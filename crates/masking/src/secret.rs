//! Secret wrappers whose `Debug`/`Display` never reveal their content.

use std::fmt;

/// The masking salt (key). It comes from Secrets Manager at run time, never
/// from the rules file. It is sent to the database only as a bind parameter
/// and is never logged: `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Salt(String);

impl Salt {
    /// Wrap a salt. An empty salt is accepted by the type but rejected by
    /// [`crate::Target::run`], which requires at least 16 characters.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value, for binding as a query parameter only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Salt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Salt(***)")
    }
}

impl fmt::Display for Salt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A database password; redacted in `Debug` and `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wrap a password.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value, for the driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salt_and_password_are_redacted() {
        let s = Salt::new("topsecret-salt-value");
        assert_eq!(format!("{s:?}"), "Salt(***)");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(s.expose(), "topsecret-salt-value");
        let p = Password::new("hunter2");
        assert!(!format!("{p:?}").contains("hunter2"));
        assert!(!format!("{p}").contains("hunter2"));
    }
}
