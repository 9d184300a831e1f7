//! The relay of a connection whose bytes are watched: per-client byte rate (the client stream
//! wrapped in [`Throttled`]), request units and payload dump (one bridge hook). Always the
//! copy path.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::BytesMut;
use ferry_bridge::{Bridge, Direction, Inspect, Outcome, Session, Verdict};
use ferry_limit::ClientKey;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::admission::{Admitted, Limit, count_hit};
use crate::conn::ConnCtx;
use crate::dump::DumpSink;
use crate::listener::ListenerRt;
use crate::refuse::refuse;
use crate::throttle::{ClientBuckets, Throttled};
use ferry_app_core::stream::Stream;

/// Set by the hook when the request-unit rate ended the session: retry-after seconds + 1
/// (0: not hit).
pub(crate) type RequestHit = Arc<AtomicU64>;

/// What a watched connection carries into its relay.
pub(crate) struct Guard {
    listener: Arc<ListenerRt>,
    hook: Option<ConnHook>,
    buckets: Option<Arc<ClientBuckets>>,
    writer: Option<JoinHandle<()>>,
    hit: RequestHit,
}

impl Guard {
    /// `None` when the listener watches no bytes (the connection keeps the splice path).
    pub(crate) fn new(ctx: &ConnCtx, admitted: &Admitted, peer: SocketAddr) -> Option<Self> {
        let l = &ctx.listener;
        let rules = &l.rules;
        if !rules.watches_data() {
            return None;
        }
        let hit = RequestHit::default();
        let (dump, writer) = match &rules.dump {
            Some(d) => {
                let (sink, writer) = crate::dump::start(d, &l.name, peer, ctx.clock.unix_secs());
                (Some(sink), Some(writer))
            }
            None => (None, None),
        };
        let hex = rules.dump.as_ref().is_some_and(|d| d.hex_trace);
        let hook = (rules.requests.is_some() || dump.is_some()).then(|| ConnHook {
            listener: Arc::clone(l),
            key: admitted.key,
            hit: Arc::clone(&hit),
            dump,
            hex,
        });
        let buckets = rules
            .buckets
            .as_ref()
            .map(|b| b.get(admitted.key, Instant::now()));
        Some(Self {
            listener: Arc::clone(l),
            hook,
            buckets,
            writer,
            hit,
        })
    }

    /// The flag the hook sets when the request-unit rate ends the session.
    pub(crate) fn request_hit(&self) -> RequestHit {
        Arc::clone(&self.hit)
    }

    /// Relays `client` and `up`; on a request-rate hit, applies the listener's action to the
    /// client after the upstream was closed. Waits for the dump files to be written.
    pub(crate) async fn run(
        self,
        bridge: &Bridge,
        client: Stream,
        up: Stream,
        session: Session,
    ) -> Outcome {
        let Self {
            listener,
            hook,
            buckets,
            writer,
            hit,
        } = self;
        let session = match hook {
            Some(h) => session.hook(Box::new(h)),
            None => session,
        };
        let parts = Parts {
            bridge,
            listener: &listener,
            buckets,
            hit: &hit,
        };
        let outcome = parts.relay(client, up, session).await;
        if let Some(w) = writer {
            let _ = w.await;
        }
        outcome
    }
}

struct Parts<'a> {
    bridge: &'a Bridge,
    listener: &'a ListenerRt,
    buckets: Option<Arc<ClientBuckets>>,
    hit: &'a AtomicU64,
}

impl Parts<'_> {
    async fn relay(self, client: Stream, up: Stream, session: Session) -> Outcome {
        let (outcome, client) = match self.buckets {
            Some(b) => {
                let hits = metrics::counter!(
                    "ferry_proxy_limits_hit_total",
                    "listener" => self.listener.name.clone(),
                    "limit" => Limit::DataRate.label()
                );
                let mut c = Throttled::new(client, b, hits);
                let outcome = relay_to(self.bridge, &mut c, up, session).await;
                (outcome, c.into_inner())
            }
            None => {
                let mut c = client;
                let outcome = relay_to(self.bridge, &mut c, up, session).await;
                (outcome, c)
            }
        };
        let hit = self.hit.load(Ordering::Relaxed);
        if hit > 0 {
            count_hit(&self.listener.name, Limit::RequestRate);
            let action = self.listener.rules.action(Limit::RequestRate);
            refuse(client, action, hit - 1).await;
        }
        outcome
    }
}

async fn relay_to<C>(bridge: &Bridge, client: &mut C, up: Stream, session: Session) -> Outcome
where
    C: AsyncRead + AsyncWrite + Unpin + Send,
{
    bridge.run(client, up, session).await
}

/// The bridge hook of a watched connection: request units (client to upstream reads), hex
/// trace and dump of what is forwarded.
struct ConnHook {
    listener: Arc<ListenerRt>,
    key: ClientKey,
    hit: RequestHit,
    dump: Option<DumpSink>,
    hex: bool,
}

impl Inspect for ConnHook {
    fn on_chunk(&mut self, dir: Direction, chunk: &mut BytesMut) -> Verdict {
        if dir == Direction::AToB
            && let Some(requests) = &self.listener.rules.requests
            && let Some(denied) = requests.check(self.key, Instant::now().into_std()).denied()
        {
            self.hit.store(
                denied.retry_after_secs().saturating_add(1),
                Ordering::Relaxed,
            );
            return Verdict::Close;
        }
        if self.hex {
            tracing::trace!(
                target: "ferry::dump",
                listener = %self.listener.name,
                direction = if dir == Direction::AToB { "c2u" } else { "u2c" },
                len = chunk.len(),
                hex = %Hex(chunk),
                "chunk"
            );
        }
        if let Some(d) = &self.dump {
            d.push(dir, chunk);
        }
        Verdict::Forward
    }
}

/// Bytes as lowercase hex pairs separated by spaces.
pub(crate) struct Hex<'a>(pub(crate) &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_spaced_pairs() {
        assert_eq!(Hex(b"\x00\xffA").to_string(), "00 ff 41");
        assert_eq!(Hex(b"").to_string(), "");
    }
}
