//! Starting CDC from a native point of the source (seed 003): the position
//! an operator asks for, checked by its shape for the source engine before
//! DMS sees it and, for a PostgreSQL source, against what the task's logical
//! replication slot still holds.

use std::fmt;

use serde::{Serialize, Serializer};

/// Where CDC starts. StartReplicationTask takes either `CdcStartPosition` or
/// `CdcStartTime`; the API reference says that giving both is an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "kebab-case")]
pub enum CdcStart {
    /// `CdcStartPosition`: a date, a DMS checkpoint, or a native LSN/SCN.
    Position(String),
    /// `CdcStartTime`, in epoch seconds (UTC).
    Time(i64),
}

/// The date form of a start position: `YYYY-MM-DDThh:mm:ss`, UTC.
const DATE_FORMAT: &str = "%Y-%m-%dT%H:%M:%S";

/// `YYYY-MM-DDThh:mm:ss` exactly, in epoch seconds (UTC).
pub(crate) fn parse_utc(text: &str) -> Option<i64> {
    chrono::NaiveDateTime::parse_from_str(text, DATE_FORMAT)
        .ok()
        .map(|d| d.and_utc().timestamp())
}

/// A date of a start position or time; a trailing `Z` is allowed.
fn parse_date(text: &str) -> Option<i64> {
    parse_utc(text.strip_suffix('Z').unwrap_or(text))
}

impl CdcStart {
    /// Read the request's `cdc_start_position` and `cdc_start_time`; `None`
    /// when neither is given. A position written `commit_time:<date>` (the
    /// form of a stop position) is sent as the plain date, the form the API
    /// reference documents for `CdcStartPosition`.
    pub fn from_request(
        position: Option<&str>,
        time: Option<&str>,
    ) -> Result<Option<Self>, String> {
        match (position.map(str::trim), time.map(str::trim)) {
            (None, None) => Ok(None),
            (Some(_), Some(_)) => Err(
                "give cdc_start_position or cdc_start_time, not both (DMS refuses a start \
                 with both)"
                    .into(),
            ),
            (Some(""), None) => Err("cdc_start_position is empty".into()),
            (Some(p), None) => {
                let p = p.strip_prefix("commit_time:").unwrap_or(p);
                Ok(Some(Self::Position(p.to_owned())))
            }
            (None, Some(t)) => parse_date(t).map(|s| Some(Self::Time(s))).ok_or_else(|| {
                format!("cdc_start_time {t:?} is not a UTC time YYYY-MM-DDThh:mm:ss")
            }),
        }
    }
}

/// A PostgreSQL log sequence number, `X/Y` in hexadecimal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Lsn(pub u64);

impl Lsn {
    pub fn parse(text: &str) -> Option<Self> {
        let (high, low) = text.trim().split_once('/')?;
        let part = |p: &str| {
            (!p.is_empty() && p.len() <= 8 && p.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| u64::from_str_radix(p, 16).ok())
                .flatten()
        };
        Some(Self((part(high)? << 32) | part(low)?))
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

impl Serialize for Lsn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What a start position is, for one source engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "shape", content = "value", rename_all = "kebab-case")]
pub enum PositionShape {
    /// A date: where it lands in the log is for DMS to find.
    Date,
    /// A DMS checkpoint (`checkpoint:V1#...`), e.g. a task's `RecoveryCheckpoint`.
    Checkpoint,
    /// A PostgreSQL LSN.
    PostgresLsn(Lsn),
    /// A MySQL binary log file and position, `mysql-bin-changelog.000024:373`.
    MysqlBinlog,
    /// An Oracle system change number.
    OracleScn,
}

/// The engine family of a DMS endpoint's `EngineName`.
fn family(engine: &str) -> &'static str {
    match engine.to_ascii_lowercase().as_str() {
        "postgres" | "aurora-postgresql" | "azure-postgresql" => "postgres",
        "mysql" | "mariadb" | "aurora" | "aurora-mysql" | "azuredb-mysql" => "mysql",
        "oracle" => "oracle",
        _ => "other",
    }
}

fn is_binlog_position(p: &str) -> bool {
    let Some((file, offset)) = p.rsplit_once(':') else {
        return false;
    };
    let Some((base, number)) = file.rsplit_once('.') else {
        return false;
    };
    !base.is_empty()
        && base
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
        && !offset.is_empty()
        && offset.bytes().all(|b| b.is_ascii_digit())
}

/// Check `position` for a source of `engine` (the endpoint's `EngineName`).
pub fn classify(position: &str, engine: &str) -> Result<PositionShape, String> {
    if parse_date(position).is_some() {
        return Ok(PositionShape::Date);
    }
    if let Some(rest) = position.strip_prefix("checkpoint:") {
        return if rest.starts_with('V') && rest.contains('#') && !rest.contains(char::is_whitespace)
        {
            Ok(PositionShape::Checkpoint)
        } else {
            Err(format!(
                "{position:?} is not a DMS checkpoint (checkpoint:V1#..., as a task's \
                 RecoveryCheckpoint reads)"
            ))
        };
    }
    let native = match family(engine) {
        "postgres" => Lsn::parse(position).map(PositionShape::PostgresLsn),
        "mysql" => is_binlog_position(position).then_some(PositionShape::MysqlBinlog),
        "oracle" => (position.bytes().all(|b| b.is_ascii_digit()) && !position.is_empty())
            .then_some(PositionShape::OracleScn),
        _ => None,
    };
    native.ok_or_else(|| {
        let native_form = match family(engine) {
            "postgres" => ", or an LSN such as 1/87F75B28",
            "mysql" => ", or a binary log position such as mysql-bin-changelog.000024:373",
            "oracle" => ", or an SCN such as 1234567",
            _ => "",
        };
        format!(
            "{position:?} is not a start position for a {engine} source: give a UTC date \
             YYYY-MM-DDThh:mm:ss, a DMS checkpoint checkpoint:V1#...{native_form}"
        )
    })
}

/// What the source's replication slot holds, read without consuming it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlotView {
    pub slot_name: String,
    /// `logical` or `physical`.
    pub slot_type: String,
    pub plugin: Option<String>,
    /// The database the slot decodes; changes can only be read from it.
    pub database: Option<String>,
    /// A walsender (DMS, most likely) reads the slot right now.
    pub active: bool,
    /// Everything before this was confirmed by the slot's reader and is gone.
    pub confirmed_flush: Option<Lsn>,
    /// The first change the slot holds at or after the requested LSN.
    pub first_change_at_or_after: Option<Lsn>,
}

/// Whether CDC can start at the requested LSN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum SlotVerdict {
    /// The slot holds a change at that LSN, or holds everything after it.
    Available,
    /// The slot no longer holds that LSN: CDC can start at the next change
    /// it holds (seed 003), which the operator confirms by asking again.
    NextAvailable {
        lsn: Lsn,
    },
    Refused {
        reason: String,
    },
}

/// Judge the requested LSN against the slot (`None`: no such slot).
pub fn judge_slot(requested: Lsn, slot_name: &str, view: Option<&SlotView>) -> SlotVerdict {
    let refused = |reason: String| SlotVerdict::Refused { reason };
    let Some(view) = view else {
        return refused(format!(
            "the source has no replication slot {slot_name:?}; create it (logical, with \
             test_decoding or pglogical) before DMS can read changes"
        ));
    };
    if view.slot_type != "logical" {
        return refused(format!(
            "slot {slot_name:?} is a {} slot; DMS needs a logical one",
            view.slot_type
        ));
    }
    if view.active {
        return refused(format!(
            "slot {slot_name:?} is being read right now (active); stop the task that reads it \
             before choosing where CDC starts"
        ));
    }
    match (view.first_change_at_or_after, view.confirmed_flush) {
        (Some(first), _) if first == requested => SlotVerdict::Available,
        (Some(first), _) => SlotVerdict::NextAvailable { lsn: first },
        (None, Some(confirmed)) if confirmed > requested => refused(format!(
            "slot {slot_name:?} has confirmed everything up to {confirmed}: the changes from \
             {requested} on are gone and it holds none after them"
        )),
        (None, _) => SlotVerdict::Available,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_from_request() {
        assert_eq!(CdcStart::from_request(None, None), Ok(None));
        assert_eq!(
            CdcStart::from_request(Some(" 1/87F75B28 "), None),
            Ok(Some(CdcStart::Position("1/87F75B28".into())))
        );
        assert_eq!(
            CdcStart::from_request(Some("commit_time:2026-11-21T00:00:00"), None),
            Ok(Some(CdcStart::Position("2026-11-21T00:00:00".into())))
        );
        assert_eq!(
            CdcStart::from_request(None, Some("2026-11-21T00:00:00Z")),
            Ok(Some(CdcStart::Time(1_795_219_200)))
        );
        for (p, t) in [
            (Some("1/0"), Some("2026-11-21T00:00:00")),
            (Some("  "), None),
            (None, Some("yesterday")),
            (None, Some("2026-11-21 00:00:00")),
        ] {
            assert!(CdcStart::from_request(p, t).is_err(), "{p:?} {t:?}");
        }
    }

    #[test]
    fn lsn_round_trips_and_orders() {
        let a = Lsn::parse("1/87F75990").unwrap();
        let b = Lsn::parse("1/87F75B28").unwrap();
        assert!(a < b);
        assert_eq!(b.to_string(), "1/87F75B28");
        assert_eq!(
            Lsn::parse("15/600002e0").unwrap().to_string(),
            "15/600002E0"
        );
        assert_eq!(Lsn::parse("0/0"), Some(Lsn(0)));
        for bad in ["", "1", "1/", "/1", "G/1", "1/2/3", "123456789/0", "-1/0"] {
            assert_eq!(Lsn::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn positions_are_checked_by_the_source_engine() {
        use PositionShape::*;
        let ok = |p: &str, e: &str| classify(p, e).unwrap();
        assert_eq!(ok("2026-11-21T00:00:00", "oracle"), Date);
        assert_eq!(ok("2026-11-21T00:00:00", "sqlserver"), Date);
        let checkpoint = "checkpoint:V1#27#mysql-bin-changelog.157832:1975:-1:2002:677883278264080:mysql-bin-changelog.157832:1876#0#0#*#0#93";
        assert_eq!(ok(checkpoint, "mysql"), Checkpoint);
        assert_eq!(
            ok("1/87F75B28", "aurora-postgresql"),
            PostgresLsn(Lsn::parse("1/87F75B28").unwrap())
        );
        assert_eq!(ok("mysql-bin-changelog.000024:373", "mariadb"), MysqlBinlog);
        assert_eq!(ok("1234567", "oracle"), OracleScn);
        for (p, e) in [
            ("mysql-bin-changelog.000024:373", "postgres"),
            ("1/87F75B28", "mysql"),
            ("1/87F75B28", "sqlserver"),
            ("binlog:12", "mysql"),
            ("12ab", "oracle"),
            ("2026-11-21", "postgres"),
        ] {
            let err = classify(p, e).unwrap_err();
            assert!(err.contains("YYYY-MM-DDThh:mm:ss"), "{p} {e}: {err}");
        }
        assert!(classify("x", "postgres").unwrap_err().contains("LSN"));
        for bad in ["checkpoint:nonsense", "checkpoint:V1#a b"] {
            let err = classify(bad, "postgres").unwrap_err();
            assert!(err.contains("RecoveryCheckpoint"), "{bad}: {err}");
        }
    }

    fn view(first: Option<&str>, confirmed: &str) -> SlotView {
        SlotView {
            slot_name: "dms_slot".into(),
            slot_type: "logical".into(),
            plugin: Some("test_decoding".into()),
            database: Some("app".into()),
            active: false,
            confirmed_flush: Lsn::parse(confirmed),
            first_change_at_or_after: first.and_then(Lsn::parse),
        }
    }

    /// Seed 003: use the captured LSN when the slot holds it, else the first
    /// LSN the slot holds after it.
    #[test]
    fn the_slot_decides_where_cdc_can_start() {
        let lsn = |s| Lsn::parse(s).unwrap();
        let requested = lsn("1/87F75990");
        assert_eq!(
            judge_slot(requested, "s", Some(&view(Some("1/87F75990"), "1/0"))),
            SlotVerdict::Available
        );
        assert_eq!(
            judge_slot(
                requested,
                "s",
                Some(&view(Some("1/87F75B28"), "1/87F75A00"))
            ),
            SlotVerdict::NextAvailable {
                lsn: lsn("1/87F75B28")
            }
        );
        assert_eq!(
            judge_slot(requested, "s", Some(&view(None, "1/87F75000"))),
            SlotVerdict::Available
        );
        let gone = judge_slot(requested, "s", Some(&view(None, "1/87F76000")));
        assert!(matches!(&gone, SlotVerdict::Refused { reason } if reason.contains("gone")));
        let missing = judge_slot(requested, "dms_slot", None);
        assert!(
            matches!(&missing, SlotVerdict::Refused { reason } if reason.contains("no replication slot"))
        );
        let mut active = view(Some("1/87F75990"), "1/0");
        active.active = true;
        assert!(matches!(
            judge_slot(requested, "s", Some(&active)),
            SlotVerdict::Refused { reason } if reason.contains("active")
        ));
        let mut physical = view(Some("1/87F75990"), "1/0");
        physical.slot_type = "physical".into();
        assert!(matches!(
            judge_slot(requested, "s", Some(&physical)),
            SlotVerdict::Refused { .. }
        ));
    }
}
