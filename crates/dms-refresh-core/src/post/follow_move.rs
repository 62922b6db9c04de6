//! While an operator's `move` is recorded on the rule, the group's stops and
//! `moving` / `failed-move` states are the move's, not a run's end: they are
//! followed here instead of settled (seed 000).

use super::{PostError, PostPorts, RecordAction};
use crate::config::Config;
use crate::moves::{MoveProgress, MoveRecord, finish_if_over, progress};
use crate::ports::{
    Continuer, FailureKind, Notifier, PostRefreshHooks, ReplicationTasks, RunLedger, ScheduleRule,
};
use crate::task::TaskInfo;

impl<D, R, N, L, H, C> PostPorts<'_, D, R, N, L, H, C>
where
    D: ReplicationTasks,
    R: ScheduleRule,
    N: Notifier,
    L: RunLedger,
    H: PostRefreshHooks,
    C: Continuer,
{
    /// The move recorded on the rule, if any (none without a rule).
    pub(crate) async fn recorded_move(
        &self,
        config: &Config,
    ) -> Result<Option<MoveRecord>, PostError> {
        let Some(rule) = config.rule_name.as_deref() else {
            return Ok(None);
        };
        match self.rules.move_record(rule).await {
            Err(e) if e.kind == FailureKind::NotFound => Ok(None),
            other => Ok(other?),
        }
    }

    /// Follow the recorded move: waiting while it is under way, else its
    /// end (reported, CDC tasks resumed when asked, the record forgotten on
    /// success).
    pub(crate) async fn follow_move(
        &self,
        config: &Config,
        tasks: &[TaskInfo],
        record: &MoveRecord,
    ) -> Result<RecordAction, PostError> {
        let ports = (self.dms, self.rules, self.notifier);
        Ok(match finish_if_over(config, ports, tasks, record).await? {
            Some(end) => RecordAction::Move { end: Box::new(end) },
            None => RecordAction::Waiting {
                tasks: match progress(tasks, record) {
                    MoveProgress::UnderWay(t) => t,
                    _ => Vec::new(),
                },
            },
        })
    }
}

#[cfg(test)]
mod tests;
