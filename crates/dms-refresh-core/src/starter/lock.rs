//! The schedule rule as a lock with an owner. The starter records who took
//! it (the rule's tags) before it disables the rule, so that a retry of the
//! same invocation finishes its own start, and so that the post-processor
//! re-enables only a rule this project disabled.

use serde::Serialize;

use crate::ports::{RuleLock, RuleState};

/// A task started at most this long before the lock was taken still counts
/// as started by the lock's holder. The holder takes the lock before it
/// starts anything and records it in whole seconds, so only a difference
/// between the clocks of Lambda and DMS (both kept by AWS) needs room.
pub const OWN_START_SKEW_SECS: f64 = 1.0;

/// What the starter may do with the rule, decided before anything changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "access", rename_all = "kebab-case")]
pub enum RuleAccess {
    /// Take the lock: record it, then disable the rule when `disable`
    /// (schedule mode; one-time mode only records the run).
    Take { disable: bool },
    /// A retry of the invocation that holds the lock: finish its start.
    Resume { since_epoch: u64 },
    /// An operator takes over the project's lock on a disabled rule (after
    /// a failed run, say); the rule stays disabled until the run succeeds.
    TakeOver { previous_owner: String },
    /// An operator starts the tasks on a rule disabled outside this project;
    /// the lock is not taken, so the rule is never re-enabled by the run.
    Bypass,
    /// Scheduled and console runs start nothing.
    Refuse { reason: String },
}

/// Decide from the rule's state and lock record. `managed` is schedule mode.
/// Who asks, for [`decide_rule_access`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requester {
    /// The schedule or the console.
    Scheduled,
    /// An operator request; `force` takes over even a lock whose run the
    /// post-processor has not handled yet.
    Operator { force: bool },
}

pub fn decide_rule_access(
    rule: &str,
    managed: bool,
    state: RuleState,
    lock: Option<&RuleLock>,
    owner: &str,
    requester: Requester,
) -> RuleAccess {
    if let Some(held) = lock.filter(|l| l.owner == owner) {
        return RuleAccess::Resume {
            since_epoch: held.since_epoch,
        };
    }
    if !managed || state == RuleState::Enabled {
        return RuleAccess::Take { disable: managed };
    }
    match (lock, requester) {
        (Some(held), Requester::Operator { force }) if held.handled_run.is_some() || force => {
            RuleAccess::TakeOver {
                previous_owner: held.owner.clone(),
            }
        }
        (Some(held), Requester::Operator { .. }) => RuleAccess::Refuse {
            reason: format!(
                "a refresh holds the schedule rule {rule} since {} (holder {}) and the \
                 post-processor has not handled its run yet: starting now would reload the \
                 quarantine under a run still being built; wait for it (the reconciler alerts \
                 when it takes too long), or send \"force\": true",
                held.since_epoch, held.owner
            ),
        },
        (None, Requester::Operator { .. }) => RuleAccess::Bypass,
        (Some(held), Requester::Scheduled) => RuleAccess::Refuse {
            reason: format!(
                "the schedule rule {rule} is disabled by dms-refresh since {} (holder {}): a \
                 refresh is in progress or the last one failed closed; send \
                 {{\"operation\": \"start\"}} to start anyway",
                held.since_epoch, held.owner
            ),
        },
        (None, Requester::Scheduled) => RuleAccess::Refuse {
            reason: format!(
                "the schedule rule {rule} was disabled outside dms-refresh (no lock record): \
                 nothing starts until it is enabled, or an operator sends \
                 {{\"operation\": \"start\"}} (the rule then stays disabled)"
            ),
        },
    }
}

/// Whether a task that is starting or running was set going by the lock's
/// holder (a previous attempt of this invocation).
pub fn started_under_lock(task_start_epoch: Option<f64>, since_epoch: u64) -> bool {
    #[allow(clippy::cast_precision_loss)]
    let since = since_epoch as f64;
    task_start_epoch.is_some_and(|s| s >= since - OWN_START_SKEW_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(owner: &str) -> RuleLock {
        RuleLock::taken(owner, 1_790_000_000, true)
    }

    /// Issue 9 item 5: the rule is a lock with an owner.
    #[test]
    fn the_rule_lock_decides_by_state_owner_and_trigger() {
        use RuleState::{Disabled, Enabled};
        let me = "schedule:e1";
        let mine = held(me);
        let mut other = held("schedule:e0");
        let d = |managed, state, lock: Option<&RuleLock>, operator: bool| {
            let requester = if operator {
                Requester::Operator { force: false }
            } else {
                Requester::Scheduled
            };
            decide_rule_access("nightly", managed, state, lock, me, requester)
        };
        assert_eq!(
            d(true, Enabled, None, false),
            RuleAccess::Take { disable: true }
        );
        assert_eq!(
            d(true, Enabled, Some(&other), false),
            RuleAccess::Take { disable: true }
        );
        assert_eq!(
            d(true, Disabled, Some(&mine), false),
            RuleAccess::Resume {
                since_epoch: 1_790_000_000
            },
            "a retry of the invocation that disabled the rule finishes its start"
        );
        assert!(
            matches!(d(true, Disabled, Some(&other), false), RuleAccess::Refuse { ref reason } if reason.contains("schedule:e0"))
        );
        assert!(
            matches!(d(true, Disabled, None, false), RuleAccess::Refuse { ref reason } if reason.contains("outside dms-refresh"))
        );
        // An operator takes over a lock whose run failed closed (handled)...
        assert!(
            matches!(d(true, Disabled, Some(&other), true), RuleAccess::Refuse { ref reason } if reason.contains("force"))
        );
        other.handled_run = Some("nightly@1790000000".into());
        assert_eq!(
            d(true, Disabled, Some(&other), true),
            RuleAccess::TakeOver {
                previous_owner: "schedule:e0".into()
            }
        );
        // ...or, with force, a lock whose run is not handled yet.
        other.handled_run = None;
        let forced = decide_rule_access(
            "nightly",
            true,
            Disabled,
            Some(&other),
            me,
            Requester::Operator { force: true },
        );
        assert_eq!(
            forced,
            RuleAccess::TakeOver {
                previous_owner: "schedule:e0".into()
            }
        );
        assert_eq!(d(true, Disabled, None, true), RuleAccess::Bypass);
        assert_eq!(
            d(false, Disabled, None, false),
            RuleAccess::Take { disable: false }
        );
    }

    #[test]
    fn tasks_started_since_the_lock_are_the_holders() {
        assert!(started_under_lock(Some(1_790_000_001.0), 1_790_000_000));
        assert!(started_under_lock(Some(1_789_999_999.5), 1_790_000_000));
        assert!(!started_under_lock(Some(1_789_999_990.0), 1_790_000_000));
        assert!(!started_under_lock(None, 1_790_000_000));
    }
}
