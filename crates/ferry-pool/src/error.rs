//! Errors of building a pool ([`PoolError`]) and of connecting through one ([`ConnectError`]).

use std::fmt::{self, Write as _};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::config::ConfigError;
use crate::target::MAX_WEIGHT;

/// Why [`Pool::new`](crate::Pool::new) rejected its arguments.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// A configuration value is out of range.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The upstream list is empty.
    #[error("pool {pool} has no upstreams")]
    NoUpstreams {
        /// The pool.
        pool: String,
    },
    /// An upstream weight is above [`MAX_WEIGHT`].
    #[error("pool {pool} upstream {upstream} has weight {weight}, above the maximum {MAX_WEIGHT}")]
    WeightTooLarge {
        /// The pool.
        pool: String,
        /// The upstream.
        upstream: String,
        /// Its weight.
        weight: u32,
    },
}

/// Why one connect attempt to one endpoint failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum AttemptError {
    /// The connect call failed (refused, unreachable, ...).
    Io(io::Error),
    /// The attempt did not complete within its deadline (the per-attempt timeout or what was
    /// left of the budget).
    TimedOut(Duration),
}

impl fmt::Display for AttemptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "{e}"),
            Self::TimedOut(d) => write!(f, "timed out after {d:?}"),
        }
    }
}

/// One failed connect attempt.
#[derive(Debug)]
#[non_exhaustive]
pub struct Attempt {
    /// The endpoint dialled.
    pub endpoint: SocketAddr,
    /// Why it failed.
    pub error: AttemptError,
}

fn list(attempts: &[Attempt]) -> String {
    let mut s = String::new();
    for (i, a) in attempts.iter().enumerate() {
        let sep = if i == 0 { "" } else { "; " };
        let _infallible = write!(s, "{sep}{} ({})", a.endpoint, a.error);
    }
    s
}

/// Why [`Pool::connect`](crate::Pool::connect) returned no connection. Every variant is an
/// upstream-side failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// No endpoint could be tried: the pool has no resolved address, or every endpoint is down
    /// or ejected and [`AllDown::Fail`](crate::AllDown::Fail) is set.
    #[error("no healthy upstream in pool {pool}")]
    NoHealthyUpstream {
        /// The pool.
        pool: String,
    },
    /// Every endpoint that could be tried failed.
    #[error("every upstream of pool {pool} failed: {}", list(.attempts))]
    Exhausted {
        /// The pool.
        pool: String,
        /// Every attempt, in order.
        attempts: Vec<Attempt>,
    },
    /// The connect budget ran out before an attempt succeeded.
    #[error("upstream connect budget of {budget:?} of pool {pool} spent: {}", list(.attempts))]
    BudgetSpent {
        /// The pool.
        pool: String,
        /// The configured budget.
        budget: Duration,
        /// Every attempt, in order.
        attempts: Vec<Attempt>,
    },
}

impl ConnectError {
    /// The failed attempts (empty for [`ConnectError::NoHealthyUpstream`]).
    #[must_use]
    pub fn attempts(&self) -> &[Attempt] {
        match self {
            Self::NoHealthyUpstream { .. } => &[],
            Self::Exhausted { attempts, .. } | Self::BudgetSpent { attempts, .. } => attempts,
        }
    }
}
