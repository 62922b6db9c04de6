//! The move record as tags on the schedule rule, next to the lock record.
//!
//! EventBridge tags allow letters, digits, spaces and `. : + = @ _ / -`
//! (EventBridge user guide, tagging), and a value of at most 256 characters
//! (API reference, `Tag.Value`). A recovery checkpoint holds `#` and `*`
//! (`checkpoint:V1#27#...#0#*#0#93`), so it is kept as hexadecimal, split over
//! as many tags as it needs: `dms-refresh:move-checkpoint:<task id>`, then
//! `...:<task id>:1`, `:2`...

use super::MoveRecord;

pub const TARGET: &str = "dms-refresh:move-target";
pub const RESUME: &str = "dms-refresh:move-resume";
pub const ALERTED: &str = "dms-refresh:move-alerted";
pub const CHECKPOINT_PREFIX: &str = "dms-refresh:move-checkpoint:";
/// Every tag of the record starts with this.
pub const PREFIX: &str = "dms-refresh:move-";
const VALUE_MAX: usize = 256;

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<String> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// The tags that record `record`.
pub fn to_tags(record: &MoveRecord) -> Vec<(String, String)> {
    let mut tags = vec![
        (TARGET.to_owned(), record.target_instance_arn.clone()),
        (RESUME.to_owned(), record.resume.to_string()),
        (ALERTED.to_owned(), record.alerted_failure.to_string()),
    ];
    for (task, checkpoint) in &record.checkpoints {
        let encoded = hex(checkpoint);
        let chunks: Vec<&str> = (0..encoded.len())
            .step_by(VALUE_MAX)
            .filter_map(|i| encoded.get(i..(i + VALUE_MAX).min(encoded.len())))
            .collect();
        for (n, chunk) in chunks.into_iter().enumerate() {
            let key = match n {
                0 => format!("{CHECKPOINT_PREFIX}{task}"),
                n => format!("{CHECKPOINT_PREFIX}{task}:{n}"),
            };
            tags.push((key, chunk.to_owned()));
        }
    }
    tags
}

/// The record the tags hold; `None` without a target. A checkpoint whose
/// tags do not decode is left out (the alert then says none was kept).
pub fn from_tags<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<MoveRecord> {
    let mut record = MoveRecord::default();
    let mut parts: std::collections::BTreeMap<String, Vec<(usize, String)>> = Default::default();
    for (key, value) in tags {
        if key == TARGET {
            value.clone_into(&mut record.target_instance_arn);
        } else if key == RESUME {
            record.resume = value == "true";
        } else if key == ALERTED {
            record.alerted_failure = value == "true";
        } else if let Some(rest) = key.strip_prefix(CHECKPOINT_PREFIX) {
            let (task, n) = match rest.rsplit_once(':') {
                Some((task, n)) => match n.parse::<usize>() {
                    Ok(n) => (task, n),
                    Err(_) => continue,
                },
                None => (rest, 0),
            };
            parts
                .entry(task.to_owned())
                .or_default()
                .push((n, value.to_owned()));
        }
    }
    for (task, mut chunks) in parts {
        chunks.sort();
        let whole = chunks.iter().enumerate().all(|(i, (n, _))| i == *n);
        let joined: String = chunks.into_iter().map(|(_, c)| c).collect();
        if let Some(checkpoint) = whole.then(|| unhex(&joined)).flatten() {
            record.checkpoints.insert(task, checkpoint);
        }
    }
    (!record.target_instance_arn.is_empty()).then_some(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECKPOINT: &str = "checkpoint:V1#27#mysql-bin-changelog.157832:1975:-1:2002:677883278264080:mysql-bin-changelog.157832:1876#0#0#*#0#93";

    fn allowed(c: char) -> bool {
        c.is_ascii_alphanumeric() || " .:+=@_/-".contains(c)
    }

    #[test]
    fn a_record_round_trips_through_tags_that_eventbridge_accepts() {
        let mut record = MoveRecord::new("arn:aws:dms:eu-west-1:123456789012:rep:NEW", true);
        record.alerted_failure = true;
        record.keep_checkpoint("arn:aws:dms:eu-west-1:123456789012:task:AAA", CHECKPOINT);
        let long = format!("{CHECKPOINT}{}", "#x".repeat(150));
        record.keep_checkpoint("arn:aws:dms:eu-west-1:123456789012:task:BBB", &long);
        let tags = to_tags(&record);
        for (k, v) in &tags {
            assert!(k.len() <= 128 && k.chars().all(allowed), "key {k}");
            assert!(v.len() <= VALUE_MAX && v.chars().all(allowed), "value {v}");
            assert!(k.starts_with(PREFIX));
        }
        assert!(tags.iter().any(|(k, _)| k.ends_with("BBB:1")), "{tags:?}");
        let mut shuffled = tags.clone();
        shuffled.reverse();
        let back = from_tags(shuffled.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert_eq!(back, Some(record));
    }

    #[test]
    fn no_target_is_no_record_and_a_broken_checkpoint_is_left_out() {
        assert_eq!(from_tags([(RESUME, "true")]), None);
        let key = format!("{CHECKPOINT_PREFIX}AAA");
        let gap = format!("{CHECKPOINT_PREFIX}BBB:1");
        let got = from_tags([
            (TARGET, "arn:aws:dms:eu-west-1:123456789012:rep:NEW"),
            (key.as_str(), "zz"),
            (gap.as_str(), "6162"),
        ])
        .unwrap();
        assert!(got.checkpoints.is_empty(), "{got:?}");
        assert!(!got.resume);
    }
}
