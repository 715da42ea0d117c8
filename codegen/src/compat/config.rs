//! The compatibility config: ignore or re-grade rules, everywhere or for one event.
//!
//! ```toml
//! # tidings-compat.toml
//! [rules]
//! enum-value-added = "warning"      # ignore | info | warning | breaking
//!
//! [events."ticket:updated"]
//! field-removed = "ignore"
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::registry::RuleId;
use super::{Finding, Impact};

/// What to do with a rule's findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Grade {
    /// Drop them.
    Ignore,
    /// Report as info.
    Info,
    /// Report as warnings (never failing).
    Warning,
    /// Report as breaking (failing in every mode).
    Breaking,
}

/// The config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Grades by rule id.
    #[serde(default)]
    rules: BTreeMap<String, Grade>,
    /// Grades by event wire name, then rule id.
    #[serde(default)]
    events: BTreeMap<String, BTreeMap<String, Grade>>,
    /// The file it was read from, for errors.
    #[serde(skip)]
    path: String,
    /// The same grades, by rule.
    #[serde(skip)]
    by_rule: BTreeMap<RuleId, Grade>,
    #[serde(skip)]
    by_event: BTreeMap<String, BTreeMap<RuleId, Grade>>,
}

/// Why the config file was refused.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    path: String,
    message: String,
}

impl Config {
    /// Reads a config file and checks every rule id it names.
    ///
    /// # Errors
    /// When the file cannot be read, is not valid (unknown keys included), or names an unknown
    /// rule.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let err = |message: String| ConfigError {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let mut config: Config = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        config.path = path.display().to_string();
        for (rule, grade) in &config.rules {
            config.by_rule.insert(rule.parse().map_err(err)?, *grade);
        }
        for (event, rules) in &config.events {
            let mut by_rule = BTreeMap::new();
            for (rule, grade) in rules {
                by_rule.insert(rule.parse().map_err(err)?, *grade);
            }
            config.by_event.insert(event.clone(), by_rule);
        }
        Ok(config)
    }

    /// Refuses events the config names that neither version declares (by wire name).
    ///
    /// # Errors
    /// The first unknown event, with a did-you-mean among `known`.
    pub fn check_events<'a>(
        &self,
        known: impl IntoIterator<Item = &'a str> + Clone,
    ) -> Result<(), ConfigError> {
        for event in self.by_event.keys() {
            if !known.clone().into_iter().any(|k| k == event) {
                let hint = crate::names::suggestion(event, known.clone()).unwrap_or_else(|| {
                    "events are named by their wire name, such as `ticket:created`".to_owned()
                });
                return Err(ConfigError {
                    path: self.path.clone(),
                    message: format!("no event `{event}` in the schemas or the baseline; {hint}"),
                });
            }
        }
        Ok(())
    }

    /// Applies the grades: per event first, then per rule. A finding inside a named type
    /// travels in several events: an event that ignores the rule no longer counts for it (what
    /// it breaks is recomputed from the others); it is dropped when no event is left.
    pub fn apply(&self, findings: Vec<Finding>) -> Vec<Finding> {
        findings
            .into_iter()
            .filter_map(|mut f| {
                let rule = f.rule;
                let per_event = |e: &str| self.by_event.get(e).and_then(|r| r.get(&rule)).copied();
                if !f.retain_events(|e| per_event(e) != Some(Grade::Ignore)) {
                    return None;
                }
                // The strongest grade any remaining event gives, else the rule's.
                let grade = f
                    .events
                    .keys()
                    .filter_map(|e| per_event(e))
                    .max()
                    .or_else(|| self.by_rule.get(&rule).copied());
                match grade {
                    None => Some(f),
                    Some(Grade::Ignore) => None,
                    Some(g) => {
                        f.severity = match g {
                            Grade::Info => Impact::Info,
                            Grade::Warning => Impact::Warning,
                            _ => Impact::Breaking,
                        };
                        Some(f)
                    }
                }
            })
            .collect()
    }
}
