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

use super::rules::RULES;
use super::{Finding, Severity};

/// What to do with a rule's findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
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
    pub rules: BTreeMap<String, Grade>,
    /// Grades by event wire name, then rule id.
    #[serde(default)]
    pub events: BTreeMap<String, BTreeMap<String, Grade>>,
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
    /// When the file cannot be read, is not valid, or names an unknown rule.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let err = |message: String| ConfigError {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let config: Config = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        let named = config
            .rules
            .keys()
            .chain(config.events.values().flat_map(BTreeMap::keys));
        for rule in named {
            if !RULES.contains(&rule.as_str()) {
                let hint = crate::names::suggestion(rule, RULES.iter().copied())
                    .unwrap_or_else(|| "see docs/compat.md for the rules".to_owned());
                return Err(err(format!("unknown rule `{rule}`; {hint}")));
            }
        }
        Ok(config)
    }

    /// Applies the grades: per event first, then per rule.
    pub fn apply(&self, findings: Vec<Finding>) -> Vec<Finding> {
        findings
            .into_iter()
            .filter_map(|mut f| {
                let by_event = f
                    .event
                    .as_ref()
                    .and_then(|e| self.events.get(e))
                    .and_then(|r| r.get(f.rule));
                let grade = by_event.or_else(|| self.rules.get(f.rule));
                match grade {
                    None => Some(f),
                    Some(Grade::Ignore) => None,
                    Some(g) => {
                        f.severity = match g {
                            Grade::Info => Severity::Info,
                            Grade::Warning => Severity::Warning,
                            _ => Severity::Breaking,
                        };
                        Some(f)
                    }
                }
            })
            .collect()
    }
}
