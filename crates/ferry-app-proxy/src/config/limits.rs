//! Validated per-listener client limits (`[listener.limits]`) and what happens when one is hit.

use std::num::{NonZeroU32, NonZeroUsize};

use bytes::{BufMut, Bytes, BytesMut};
use ferry_bridge::Throttle;
use ferry_limit::{Quota, V6Prefix};

/// The placeholder a [`Reply`] replaces with the retry-after seconds.
pub const RETRY_AFTER_PLACEHOLDER: &str = "{retry_after}";

/// Bytes sent to a refused client, in which every `{retry_after}` is replaced by the number of
/// seconds after which the same attempt may succeed (from the rate limiter, or until the next
/// time window opens; `0` when waiting does not help, as for a CIDR deny or a concurrency
/// limit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The bytes between placeholders: `parts.len() - 1` placeholders.
    parts: Vec<Bytes>,
}

impl Reply {
    /// A reply template; `{retry_after}` anywhere in `text` is a placeholder.
    #[must_use]
    pub fn new(text: &str) -> Self {
        Self {
            parts: text
                .split(RETRY_AFTER_PLACEHOLDER)
                .map(|p| Bytes::copy_from_slice(p.as_bytes()))
                .collect(),
        }
    }

    /// The template as text, placeholders included (invalid UTF-8 replaced).
    #[must_use]
    pub fn template(&self) -> String {
        let parts: Vec<_> = self
            .parts
            .iter()
            .map(|p| String::from_utf8_lossy(p))
            .collect();
        parts.join(RETRY_AFTER_PLACEHOLDER)
    }

    /// The bytes to send, with `retry_after_secs` in place of every placeholder.
    #[must_use]
    pub fn render(&self, retry_after_secs: u64) -> Bytes {
        if let [only] = self.parts.as_slice() {
            return only.clone();
        }
        let number = retry_after_secs.to_string();
        let len = self.parts.iter().map(Bytes::len).sum::<usize>()
            + number.len() * self.parts.len().saturating_sub(1);
        let mut out = BytesMut::with_capacity(len);
        for (i, part) in self.parts.iter().enumerate() {
            if i > 0 {
                out.put_slice(number.as_bytes());
            }
            out.put_slice(part);
        }
        out.freeze()
    }
}

/// What the proxy does with a connection that hit a limit or broke an access rule.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LimitAction {
    /// Close the connection (FIN). The default.
    #[default]
    Close,
    /// Reset the connection (`SO_LINGER` 0, so the client sees `ECONNRESET`).
    Reset,
    /// Send the reply, then close.
    Reply(Reply),
}

/// The per-client byte rate of a listener: each direction of all connections of one client
/// together (client to upstream and upstream to client have a bucket each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DataRate {
    /// Rate and bucket size, in bytes.
    pub throttle: Throttle,
}

/// Per-client and per-listener limits of one listener (`[listener.limits]`). Every limit is
/// off by default; the global cap (`server.max_connections`) always applies.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ListenerLimits {
    /// New connections per client (GCRA: rate and burst). Default: off.
    pub connection_rate: Option<Quota>,
    /// Open connections per client. Default: off.
    pub per_client_connections: Option<NonZeroU32>,
    /// Open connections on this listener; more are refused with [`action`](Self::action).
    /// Default: off (only the global cap, which pauses accepting instead).
    pub max_connections: Option<NonZeroUsize>,
    /// Bytes per second per client, each direction (a throttle: senders are slowed, nothing
    /// is refused). Default: off.
    pub data_rate: Option<DataRate>,
    /// Reads from the client per client (each read counts as one request unit); when
    /// exceeded the connection ends with [`action`](Self::action) and the read bytes are not
    /// forwarded. Default: off.
    pub request_rate: Option<Quota>,
    /// What happens on a limit. Default [`LimitAction::Close`].
    pub action: LimitAction,
    /// Prefix length IPv6 clients are keyed by. Default /64.
    pub v6_prefix: V6Prefix,
}

impl ListenerLimits {
    /// Whether any per-connection limit is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.connection_rate.is_none()
            && self.per_client_connections.is_none()
            && self.max_connections.is_none()
            && self.data_rate.is_none()
            && self.request_rate.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_replaces_every_placeholder() {
        let r = Reply::new("a{retry_after}b{retry_after}");
        assert_eq!(&r.render(42)[..], b"a42b42");
        assert_eq!(&Reply::new("plain").render(7)[..], b"plain");
        assert_eq!(&Reply::new("{retry_after}").render(0)[..], b"0");
        assert_eq!(&Reply::new("").render(0)[..], b"");
        assert_eq!(r.template(), "a{retry_after}b{retry_after}");
    }
}
