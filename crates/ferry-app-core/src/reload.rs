//! What every program's reload shares: the error a refused reload returns, the report of a
//! reload that applied, and the one metric and log lines each reload ends with.
//!
//! A program's own `Reloader` reads and validates the whole new config first (files, keys,
//! certificates, patterns) and changes nothing when any of it is wrong; then it swaps the new
//! settings in for new connections, tunnels and agents, and passes the result to [`finish`],
//! which logs it and counts it in `ferry_config_reloads_total{result}`.
//!
//! Settings that cannot change while the program runs (a listen address, for example) are
//! never silently ignored: a reload that changes them is either refused as
//! [`ReloadError::NeedsRestart`] or applied with the setting left as it was and named in
//! [`Reloaded::needs_restart`], which [`finish`] logs as a warning.

use crate::ConfigError;
use crate::error::error_line;

/// Counter of config reloads, labelled `result` (`ok`, `error`). One program per process, so
/// no program label.
pub const CONFIG_RELOADS: &str = "ferry_config_reloads_total";

/// A config reload that was refused; the running config stays as it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReloadError {
    /// The new file cannot be read, is invalid, or names files (certificates, keys, token
    /// files, CA files) that cannot be used.
    #[error("new config rejected; keeping the running one")]
    Config(#[from] ConfigError),
    /// The new file changes something only a restart can change.
    #[error("`{key}` {reason}; keeping the running config (restart to apply it)")]
    NeedsRestart {
        /// The config key (`listen`, `listener[1].bind`, ...).
        key: String,
        /// What changed.
        reason: String,
    },
}

impl ReloadError {
    /// Shorthand for [`ReloadError::NeedsRestart`] when `key` changed from `old` to `new`.
    pub fn changed(
        key: impl Into<String>,
        old: impl std::fmt::Display,
        new: impl std::fmt::Display,
    ) -> Self {
        Self::NeedsRestart {
            key: key.into(),
            reason: format!("changed from {old} to {new}"),
        }
    }
}

/// What a reload that applied did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reloaded {
    /// What was swapped in, one short phrase each (`keys`, `allowlist`, `tls certificate`).
    pub applied: Vec<String>,
    /// Changed settings that need a restart and were left as they were, one line each
    /// (`server.max_connections: 10 in the file, 20 kept`).
    pub needs_restart: Vec<String>,
}

impl Reloaded {
    /// A report naming `applied`.
    #[must_use]
    pub fn new(applied: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            applied: applied.into_iter().map(Into::into).collect(),
            needs_restart: Vec::new(),
        }
    }

    /// Records that `key` changed from `old` to `new` in the file but keeps its running value.
    pub fn kept(&mut self, key: &str, old: impl std::fmt::Display, new: impl std::fmt::Display) {
        self.needs_restart.push(format!(
            "{key}: {new} in the file, {old} kept (restart to apply it)"
        ));
    }
}

/// Logs the outcome of one reload of `program` and counts it in
/// `ferry_config_reloads_total{result}`; returns `result` unchanged.
///
/// # Errors
///
/// `result`'s own error, passed through.
pub fn finish(
    program: &'static str,
    result: Result<Reloaded, ReloadError>,
) -> Result<Reloaded, ReloadError> {
    match &result {
        Ok(done) => {
            metrics::counter!(CONFIG_RELOADS, "result" => "ok").increment(1);
            for line in &done.needs_restart {
                tracing::warn!(program, setting = %line, "config reload: setting needs a restart; left as it was");
            }
            tracing::info!(
                program,
                applied = %done.applied.join(", "),
                "config reloaded; new connections use it"
            );
        }
        Err(e) => {
            metrics::counter!(CONFIG_RELOADS, "result" => "error").increment(1);
            tracing::error!(program, error = %error_line(e), "config reload failed");
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_names_the_key_and_both_values() {
        let mut r = Reloaded::new(["keys"]);
        r.kept("listen", "127.0.0.1:1", "127.0.0.1:2");
        assert_eq!(r.applied, vec!["keys".to_owned()]);
        assert_eq!(
            r.needs_restart,
            vec![
                "listen: 127.0.0.1:2 in the file, 127.0.0.1:1 kept (restart to apply it)"
                    .to_owned()
            ]
        );
    }

    #[test]
    fn errors_name_the_key() {
        let e = ReloadError::changed("listen", "a", "b");
        assert_eq!(
            e.to_string(),
            "`listen` changed from a to b; keeping the running config (restart to apply it)"
        );
        let e = finish(
            "test",
            Err(ReloadError::from(ConfigError::invalid("allow", "bad"))),
        );
        assert!(matches!(e, Err(ReloadError::Config(_))));
    }
}
