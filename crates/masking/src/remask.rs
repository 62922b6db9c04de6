//! Never masked twice, in place.
//!
//! An in-place run masks the rows where DMS left them. After a
//! `reload-target` (or the first `start-replication`) every row is a fresh
//! copy from production. After a `resume-processing` the target was not
//! reloaded: yesterday's masked rows are still there beside the changes DMS
//! applied since, and masking the table again would hash a hash and move
//! shifted dates a second time. `settings.remask` says what to do; the
//! default refuses before any write. The rewrite layout cannot mask twice
//! (it always reads the raw quarantine copy), so this applies in place only.

use crate::error::MaskError;
use crate::rules::{Remask, Rules};

/// How the load an in-place run masks was started, as far as DMS tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoadStart {
    /// A fresh start or a target reload: every row is a fresh copy.
    #[default]
    Reloaded,
    /// A `resume-processing` start: the target still holds the rows an
    /// earlier run masked.
    Resumed,
}

/// Refuse (or, with `remask = "allow"`, warn about) masking a target that
/// was not reloaded. Returns the warning for the run report.
pub(crate) fn check_remask(rules: &Rules, start: LoadStart) -> Result<Option<String>, MaskError> {
    if start == LoadStart::Reloaded {
        return Ok(None);
    }
    match rules.settings.remask {
        Remask::Refuse => Err(MaskError::Config(format!(
            "{}: the load was started with resume-processing, so the target still holds \
             the rows an earlier run masked and masking in place again would mask them twice; \
             nothing was written. Start the task with reload-target (an operator request \
             {{\"operation\": \"start\", \"start_type\": \"reload-target\"}}), or set \
             settings.remask = \"allow\" to mask every row again",
            rules.file
        ))),
        Remask::Allow => Ok(Some(
            "the load was started with resume-processing and settings.remask is \"allow\": \
             rows masked by an earlier run were masked again"
                .to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(remask: &str) -> Rules {
        let src =
            format!("[settings]\n{remask}\n[tables.t.columns]\nc = {{ strategy = \"hash\" }}\n");
        Rules::parse(&src, "r.toml").expect("rules")
    }

    #[test]
    fn a_reloaded_target_is_masked_whatever_the_setting() {
        for setting in ["", "remask = \"refuse\"", "remask = \"allow\""] {
            assert_eq!(
                check_remask(&rules(setting), LoadStart::Reloaded).ok(),
                Some(None)
            );
        }
    }

    #[test]
    fn a_resumed_load_is_refused_by_default_and_names_the_way_out() {
        for setting in ["", "remask = \"refuse\""] {
            let e = check_remask(&rules(setting), LoadStart::Resumed).expect_err(setting);
            assert!(e.is_permanent());
            let msg = e.to_string();
            assert!(msg.contains("reload-target"), "{msg}");
            assert!(msg.contains("settings.remask"), "{msg}");
        }
    }

    #[test]
    fn allow_masks_again_and_says_so() {
        let w = check_remask(&rules("remask = \"allow\""), LoadStart::Resumed)
            .expect("allowed")
            .expect("a warning");
        assert!(w.contains("masked again"), "{w}");
    }

    #[test]
    fn an_unknown_value_names_the_accepted_ones() {
        let e = Rules::parse("[settings]\nremask = \"sometimes\"\n", "r.toml").expect_err("bad");
        let msg = e.to_string();
        assert!(
            msg.contains("settings.remask") && msg.contains("refuse or allow"),
            "{msg}"
        );
    }
}
