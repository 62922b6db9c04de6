//! Success and alert messages sent to the optional notification topic.

use serde::Serialize;
use serde_json::Value;
use tracing::{info, warn};

use crate::config::Config;
use crate::ports::Notifier;

/// A message for operators: a short subject, a summary for people and JSON
/// details for programs. It never carries secrets or row data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub subject: String,
    pub summary: String,
    pub details: Value,
}

/// The line between the text and the JSON of a message body.
pub const JSON_SEPARATOR: &str = "---- details (JSON) ----";

impl Alert {
    /// The body published to SNS: the summary as text, then the separator
    /// line, then the summary and the details as one line of JSON, which
    /// [`json_part`] finds again.
    pub fn body(&self) -> String {
        format!("{}\n\n{JSON_SEPARATOR}\n{}", self.summary, self.json())
    }

    /// `{"summary": ..., "details": ...}` on one line.
    pub fn json(&self) -> String {
        serde_json::json!({ "summary": self.summary, "details": self.details }).to_string()
    }
}

/// The JSON of a body written by [`Alert::body`]: what follows the last
/// separator line (the JSON itself holds no line break).
pub fn json_part(body: &str) -> Option<&str> {
    let marker = format!("\n{JSON_SEPARATOR}\n");
    body.rsplit_once(marker.as_str()).map(|(_, json)| json)
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
    fn the_body_is_the_summary_for_people_then_the_json() {
        let alert = Alert {
            subject: "s".into(),
            summary: format!("done\nin two lines, even quoting\n{JSON_SEPARATOR}\n"),
            details: serde_json::json!({"k": "a\nb"}),
        };
        let body = alert.body();
        assert!(body.starts_with("done\nin two lines"), "{body}");
        let v: Value = serde_json::from_str(json_part(&body).unwrap()).unwrap();
        assert_eq!(v["summary"], alert.summary.as_str());
        assert_eq!(v["details"]["k"], "a\nb");
        assert_eq!(json_part("{\"only\": \"json\"}"), None);
    }
}
