//! Log levels changed at run time: Kafka's BROKER_LOGGER config resource
//! (`kafka-configs --entity-type broker-loggers`). Riffle's loggers are its `tracing`
//! targets (module paths, like `riffle::replication`) under a root level; a level set
//! for a logger holds for the modules below it. The binary installs the hook that
//! swaps the log filter; logging is process-wide, so is this state.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use parking_lot::Mutex;

/// The root logger, as Kafka names it.
pub const ROOT: &str = "root";

/// The loggers DescribeConfigs lists: the root, the crate, each of its top-level
/// modules, and the metadata quorum's library.
pub const LOGGERS: &[&str] = &[
    ROOT,
    "riffle",
    "riffle::admin",
    "riffle::api",
    "riffle::broker",
    "riffle::common",
    "riffle::config",
    "riffle::controller",
    "riffle::coordinator",
    "riffle::group",
    "riffle::log",
    "riffle::net",
    "riffle::producer",
    "riffle::replication",
    "riffle::server",
    "riffle::storage",
    "riffle::wire",
    "openraft",
];

/// Kafka's (log4j's) level names.
pub const LEVELS: &[&str] = &["ALL", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF"];

type Reload = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

struct State {
    /// Levels set at run time, by logger (the root included once set).
    levels: BTreeMap<String, String>,
    /// The level of the root logger at start-up.
    start_root: String,
}

static RELOAD: OnceLock<Reload> = OnceLock::new();
static STATE: Mutex<State> = Mutex::new(State { levels: BTreeMap::new(), start_root: String::new() });

/// Called once by the binary: the start-up root level and how to install a new filter
/// (a `tracing_subscriber::EnvFilter` directive string).
pub fn install(start_root: &str, reload: impl Fn(&str) -> Result<(), String> + Send + Sync + 'static) {
    STATE.lock().start_root = kafka_level(start_root).unwrap_or("INFO").to_string();
    let _ = RELOAD.set(Box::new(reload));
}

/// The Kafka name of a level given in either vocabulary (`debug`, `DEBUG`).
fn kafka_level(level: &str) -> Option<&'static str> {
    let upper = level.trim().to_ascii_uppercase();
    LEVELS.iter().copied().find(|l| *l == upper)
}

fn tracing_level(kafka: &str) -> &'static str {
    match kafka {
        "ALL" | "TRACE" => "trace",
        "DEBUG" => "debug",
        "INFO" => "info",
        "WARN" => "warn",
        "ERROR" | "FATAL" => "error",
        _ => "off",
    }
}

/// Whether `name` is a logger: one of [`LOGGERS`] or a module below one.
pub fn exists(name: &str) -> bool {
    LOGGERS.iter().any(|l| *l == name || (*l != ROOT && name.starts_with(l) && name[l.len()..].starts_with("::")))
}

/// Every listed logger with its effective level: its own, else its nearest ancestor's,
/// else the root's.
pub fn loggers() -> Vec<(String, String)> {
    let st = STATE.lock();
    let root = st.levels.get(ROOT).cloned().unwrap_or_else(|| if st.start_root.is_empty() { "INFO".into() } else { st.start_root.clone() });
    LOGGERS
        .iter()
        .map(|name| {
            let own = st.levels.iter().filter(|(l, _)| l.as_str() != ROOT && (name == l || name.starts_with(&format!("{l}::")))).max_by_key(|(l, _)| l.len());
            (name.to_string(), own.map(|(_, v)| v.clone()).unwrap_or_else(|| root.clone()))
        })
        .collect()
}

/// Why a change of log levels was refused (Kafka answers INVALID_CONFIG).
#[derive(Debug, thiserror::Error)]
pub enum LogLevelError {
    #[error("Logger {0} does not exist!")]
    UnknownLogger(String),
    #[error("Cannot set the log level of {0} to {1} as it is not a supported log level. Valid log4j levels are ALL, TRACE, DEBUG, INFO, WARN, ERROR, FATAL, OFF")]
    InvalidLevel(String, String),
    #[error("Removing the log level of the root logger is not allowed")]
    RemoveRoot,
    #[error("could not install the new log filter: {0}")]
    Reload(String),
}

/// Sets (`Some(level)`) or removes (`None`) the levels of loggers, all or none.
pub fn change(changes: &[(String, Option<String>)], validate_only: bool) -> Result<(), LogLevelError> {
    let mut st = STATE.lock();
    let mut levels = st.levels.clone();
    for (name, level) in changes {
        if !exists(name) {
            return Err(LogLevelError::UnknownLogger(name.clone()));
        }
        match level {
            Some(l) => {
                let k = kafka_level(l).ok_or_else(|| LogLevelError::InvalidLevel(name.clone(), l.clone()))?;
                levels.insert(name.clone(), k.to_string());
            }
            None if name == ROOT => return Err(LogLevelError::RemoveRoot),
            None => {
                levels.remove(name);
            }
        }
    }
    if validate_only {
        return Ok(());
    }
    if let Some(reload) = RELOAD.get() {
        let root = levels.get(ROOT).map(String::as_str).unwrap_or(if st.start_root.is_empty() { "INFO" } else { &st.start_root });
        let mut directives = vec![tracing_level(root).to_string()];
        directives.extend(levels.iter().filter(|(l, _)| l.as_str() != ROOT).map(|(l, v)| format!("{l}={}", tracing_level(v))));
        reload(&directives.join(",")).map_err(LogLevelError::Reload)?;
    }
    st.levels = levels;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loggers_inherit_and_changes_are_checked() {
        assert!(exists("riffle::api::fetch") && exists(ROOT) && !exists("riffler") && !exists("kafka.server"));
        change(&[("riffle::api".into(), Some("debug".into()))], false).unwrap();
        let levels: BTreeMap<String, String> = loggers().into_iter().collect();
        assert_eq!(levels["riffle::api"], "DEBUG");
        assert_ne!(levels["riffle::net"], "DEBUG");
        assert!(matches!(change(&[("riffle::api".into(), Some("LOUD".into()))], false), Err(LogLevelError::InvalidLevel(..))));
        assert!(matches!(change(&[(ROOT.into(), None)], false), Err(LogLevelError::RemoveRoot)));
        assert!(matches!(change(&[("nope".into(), None)], false), Err(LogLevelError::UnknownLogger(_))));
        change(&[("riffle::api".into(), None)], false).unwrap();
        assert_ne!(loggers().into_iter().find(|(l, _)| l == "riffle::api").unwrap().1, "DEBUG");
    }
}
