//! Where a DMS task writes on its target: the schemas (PostgreSQL) or
//! databases (MySQL) its table mappings land in, from the selection rules and
//! the schema transformations (`rename`, `add-prefix`, `add-suffix`,
//! `remove-prefix`, `remove-suffix`, `convert-lowercase`,
//! `convert-uppercase`). The publish model's guard uses it: the group's tasks
//! must write only into the quarantine, and no task may write into live.
//!
//! Pure functions over the task's `TableMappings` JSON; `%` is the wildcard
//! of DMS object locators.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

/// What the table mappings say about the target places a task writes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Landing {
    /// Places the task certainly writes to.
    pub places: BTreeSet<String>,
    /// Selections whose target place cannot be known from the mappings (a
    /// wildcard schema with no transformation that names its target).
    pub unknown: Vec<String>,
}

/// A schema transformation rule.
#[derive(Debug, Clone)]
struct SchemaRule {
    id: u64,
    locator: String,
    action: String,
    value: Option<String>,
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Whether the DMS pattern `pattern` (with `%` wildcards) matches `name`.
pub fn matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('%').collect();
    if parts.len() == 1 {
        return pattern.eq_ignore_ascii_case(name);
    }
    let lower = name.to_ascii_lowercase();
    let mut rest = lower.as_str();
    for (i, part) in parts.iter().enumerate() {
        let part = part.to_ascii_lowercase();
        if i == 0 {
            let Some(after) = rest.strip_prefix(part.as_str()) else {
                return false;
            };
            rest = after;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part.as_str());
        } else {
            match rest.find(part.as_str()) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// Whether every schema `selection` selects is also selected by `locator`.
fn covers(locator: &str, selection: &str) -> bool {
    locator == "%"
        || locator.eq_ignore_ascii_case(selection)
        || !selection.contains('%') && matches(locator, selection)
}

fn rule_id(rule: &Value) -> u64 {
    match rule.get("rule-id") {
        Some(Value::String(s)) => s.parse().unwrap_or(u64::MAX),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(u64::MAX),
        _ => u64::MAX,
    }
}

/// Apply one schema transformation to a known schema name.
fn transform(rule: &SchemaRule, name: &str) -> Result<String, String> {
    let value = || {
        rule.value
            .clone()
            .ok_or_else(|| format!("transformation rule {} has no value", rule.id))
    };
    Ok(match rule.action.as_str() {
        "rename" => value()?,
        "add-prefix" => format!("{}{name}", value()?),
        "add-suffix" => format!("{name}{}", value()?),
        "remove-prefix" => name
            .strip_prefix(value()?.as_str())
            .unwrap_or(name)
            .to_owned(),
        "remove-suffix" => name
            .strip_suffix(value()?.as_str())
            .unwrap_or(name)
            .to_owned(),
        "convert-lowercase" => name.to_ascii_lowercase(),
        "convert-uppercase" => name.to_ascii_uppercase(),
        other => return Err(format!("schema transformation {other} (rule {})", rule.id)),
    })
}

/// Where a selection of `schema` (a name or a `%` pattern) lands.
fn land(schema: &str, rules: &[SchemaRule]) -> Result<Option<String>, String> {
    let applying: Vec<&SchemaRule> = rules
        .iter()
        .filter(|r| covers(&r.locator, schema))
        .collect();
    if let Some(rename) = applying.iter().rev().find(|r| r.action == "rename") {
        // A rename names the target whatever the source schema was.
        let mut name = transform(rename, schema)?;
        for r in applying.iter().filter(|r| r.id > rename.id) {
            name = transform(r, &name)?;
        }
        return Ok(Some(name));
    }
    if schema.contains('%') {
        return Ok(None);
    }
    let mut name = schema.to_owned();
    for r in &applying {
        name = transform(r, &name)?;
    }
    Ok(Some(name))
}

/// The places `table_mappings` writes to. `single_database` is the target
/// endpoint's database when the endpoint sends every table into one database
/// (MySQL `TargetDbType` `specific-database`): then that is the only place.
pub fn landing(table_mappings: &str, single_database: Option<&str>) -> Result<Landing, String> {
    let doc: Value = serde_json::from_str(table_mappings)
        .map_err(|e| format!("the task's table mappings are not JSON ({e})"))?;
    let rules = doc
        .get("rules")
        .and_then(Value::as_array)
        .ok_or("the task's table mappings have no `rules` array")?;
    let mut schema_rules: Vec<SchemaRule> = rules
        .iter()
        .filter(|r| {
            text(r, "rule-type") == Some("transformation")
                && text(r, "rule-target") == Some("schema")
        })
        .map(|r| SchemaRule {
            id: rule_id(r),
            locator: r
                .get("object-locator")
                .and_then(|l| text(l, "schema-name"))
                .unwrap_or("%")
                .to_owned(),
            action: text(r, "rule-action").unwrap_or_default().to_owned(),
            value: text(r, "value").map(str::to_owned),
        })
        .collect();
    schema_rules.sort_by_key(|r| r.id);
    let mut out = Landing {
        places: BTreeSet::new(),
        unknown: Vec::new(),
    };
    let selections = rules.iter().filter(|r| {
        text(r, "rule-type") == Some("selection") && text(r, "rule-action") != Some("exclude")
    });
    for selection in selections {
        let schema = selection
            .get("object-locator")
            .and_then(|l| text(l, "schema-name"))
            .ok_or("a selection rule has no object-locator.schema-name")?;
        if let Some(db) = single_database {
            out.places.insert(db.to_owned());
            continue;
        }
        match land(schema, &schema_rules)? {
            Some(place) => {
                out.places.insert(place);
            }
            None => out.unknown.push(schema.to_owned()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mappings(rules: Value) -> String {
        json!({ "rules": rules }).to_string()
    }

    fn select(schema: &str) -> Value {
        json!({"rule-type": "selection", "rule-id": "1", "rule-name": "s",
               "object-locator": {"schema-name": schema, "table-name": "%"}, "rule-action": "include"})
    }

    fn schema_rule(id: u32, locator: &str, action: &str, value: Option<&str>) -> Value {
        let mut r = json!({"rule-type": "transformation", "rule-id": id.to_string(), "rule-name": "t",
                           "rule-target": "schema", "object-locator": {"schema-name": locator},
                           "rule-action": action});
        if let Some(v) = value {
            r["value"] = json!(v);
        }
        r
    }

    fn places(l: &Landing) -> Vec<&str> {
        l.places.iter().map(String::as_str).collect()
    }

    #[test]
    fn a_rename_sends_the_selection_to_the_quarantine() {
        let m = mappings(json!([
            select("app"),
            schema_rule(2, "app", "rename", Some("app_quarantine"))
        ]));
        let l = landing(&m, None).unwrap();
        assert_eq!(places(&l), ["app_quarantine"]);
        assert!(l.unknown.is_empty());
    }

    #[test]
    fn without_a_transformation_a_table_lands_in_its_source_schema() {
        let l = landing(&mappings(json!([select("app")])), None).unwrap();
        assert_eq!(places(&l), ["app"]);
        let l = landing(&mappings(json!([select("%")])), None).unwrap();
        assert!(l.places.is_empty());
        assert_eq!(
            l.unknown,
            ["%"],
            "a wildcard selection lands where its sources are called"
        );
    }

    #[test]
    fn a_wildcard_rename_covers_every_selection() {
        let m = mappings(json!([
            select("%"),
            select("sales"),
            schema_rule(3, "%", "rename", Some("q"))
        ]));
        assert_eq!(places(&landing(&m, None).unwrap()), ["q"]);
        let m = mappings(json!([
            select("sales%"),
            schema_rule(3, "sales%", "rename", Some("q"))
        ]));
        assert_eq!(places(&landing(&m, None).unwrap()), ["q"]);
    }

    #[test]
    fn prefixes_suffixes_and_case_apply_in_rule_order() {
        let m = mappings(json!([
            select("App"),
            schema_rule(2, "App", "convert-lowercase", None),
            schema_rule(3, "%", "add-suffix", Some("_quarantine")),
        ]));
        assert_eq!(places(&landing(&m, None).unwrap()), ["app_quarantine"]);
        let m = mappings(json!([
            select("%"),
            schema_rule(2, "%", "add-prefix", Some("q_"))
        ]));
        assert_eq!(landing(&m, None).unwrap().unknown, ["%"]);
    }

    #[test]
    fn a_rename_of_another_schema_does_not_apply() {
        let m = mappings(json!([
            select("app"),
            select("audit"),
            schema_rule(2, "app", "rename", Some("q"))
        ]));
        assert_eq!(places(&landing(&m, None).unwrap()), ["audit", "q"]);
        let excluded = json!({"rule-type": "selection", "rule-id": "9", "rule-name": "x",
                              "object-locator": {"schema-name": "audit", "table-name": "%"}, "rule-action": "exclude"});
        let m = mappings(json!([
            select("app"),
            excluded,
            schema_rule(2, "app", "rename", Some("q"))
        ]));
        assert_eq!(places(&landing(&m, None).unwrap()), ["q"]);
    }

    #[test]
    fn a_single_database_endpoint_takes_everything() {
        let l = landing(&mappings(json!([select("%")])), Some("shop_quarantine")).unwrap();
        assert_eq!(places(&l), ["shop_quarantine"]);
    }

    #[test]
    fn bad_mappings_are_errors_not_guesses() {
        assert!(landing("not json", None).unwrap_err().contains("not JSON"));
        assert!(landing("{}", None).unwrap_err().contains("rules"));
        let m = mappings(json!([
            select("app"),
            schema_rule(2, "app", "rename", None)
        ]));
        assert!(landing(&m, None).unwrap_err().contains("no value"));
    }

    #[test]
    fn patterns_match_like_dms_locators() {
        assert!(matches("%", "anything"));
        assert!(matches("sales%", "SALES_EU"));
        assert!(matches("%_eu", "sales_eu"));
        assert!(matches("s%e%u", "sales_eu"));
        assert!(!matches("sales%", "crm"));
        assert!(!matches("app", "app2"));
    }
}
