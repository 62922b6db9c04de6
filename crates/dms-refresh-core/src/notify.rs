//! Success and alert messages sent to the optional notification topic.

use serde::Serialize;
use serde_json::Value;
use tracing::{info, warn};

use crate::config::Config;
use crate::ports::Notifier;

/// A message for operators: a short subject and a JSON body. It never carries
/// secrets or row data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub subject: String,
    pub summary: String,
    pub details: Value,
}

impl Alert {
    /// The JSON body published to SNS.
    pub fn body(&self) -> String {
        serde_json::json!({ "summary": self.summary, "details": self.details }).to_string()
    }
}

/// SNS subjects are ASCII, at most 100 characters, with no line breaks.
pub fn sns_subject(subject: &str) -> String {
    subject
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                ' '
            }
        })
        .take(100)
        .collect()
}

/// Publish when a topic is configured. A failed publish is logged, not
/// returned: the refresh's own outcome must not depend on the notification.
pub async fn publish_if_configured<N: Notifier>(
    notifier: &N,
    config: &Config,
    alert: &Alert,
) -> bool {
    let Some(topic) = config.notification_topic_arn.as_deref() else {
        info!(subject = %alert.subject, "no notification topic configured; not publishing");
        return false;
    };
    match notifier
        .publish(topic, &sns_subject(&alert.subject), &alert.body())
        .await
    {
        Ok(()) => {
            info!(topic, subject = %alert.subject, "notification published");
            true
        }
        Err(err) => {
            warn!(topic, error = %err, "notification could not be published");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_trimmed_to_what_sns_accepts() {
        let long = "é".repeat(20) + &"x".repeat(200) + "\n";
        let s = sns_subject(&long);
        assert_eq!(s.chars().count(), 100);
        assert!(s.is_ascii() && !s.contains('\n'));
    }

    #[test]
    fn body_is_json_with_summary_and_details() {
        let alert = Alert {
            subject: "s".into(),
            summary: "done".into(),
            details: serde_json::json!({"k": 1}),
        };
        let v: Value = serde_json::from_str(&alert.body()).unwrap();
        assert_eq!(v["summary"], "done");
        assert_eq!(v["details"]["k"], 1);
    }
}
