//! Error types of the programs: configuration problems (found before anything is bound) and run-time
//! failures of a program as a whole.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// A configuration file or flag set that cannot be used. Every variant names the key or file at
/// fault, so a binary can print one readable line and exit non-zero before binding anything.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}")]
    Read {
        /// The file that was asked for.
        path: PathBuf,
        /// Why reading failed.
        #[source]
        source: io::Error,
    },
    /// The file is not valid TOML or has a key of the wrong type or an unknown key.
    #[error("invalid config{}: {message}", path.as_ref().map(|p| format!(" file {}", p.display())).unwrap_or_default())]
    Syntax {
        /// The file, when the config came from a file.
        path: Option<PathBuf>,
        /// The parser's message, which names the key and line.
        message: String,
    },
    /// A value is well-formed but not acceptable.
    #[error("invalid value for `{key}`: {reason}")]
    Invalid {
        /// Dotted path of the key, e.g. `listener[0].bind`.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl ConfigError {
    /// Shorthand for [`ConfigError::Invalid`].
    pub fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// A program could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// The configuration was rejected.
    #[error("configuration rejected")]
    Config(#[from] ConfigError),
    /// A listening socket could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// Why binding failed.
        #[source]
        source: io::Error,
    },
    /// `run` was given a different number of listeners than the config names.
    #[error("{given} listeners were passed for {configured} configured listeners")]
    ListenerCount {
        /// Listeners passed to `run`.
        given: usize,
        /// Listeners in the config.
        configured: usize,
    },
    /// The connection workers could not be started, or a listener could not be shared with
    /// them (see [`crate::workers`]).
    #[error("cannot start the connection workers")]
    Workers(#[source] io::Error),
}

/// Formats an error and its chain of sources on one line: `a: b: c`, the form the binaries print
/// and the programs log.
#[must_use]
pub fn error_line(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        line.push_str(": ");
        line.push_str(&s.to_string());
        source = s.source();
    }
    line
}
