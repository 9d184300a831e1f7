//! What one soak session does: its path, its rounds, their sizes and pauses, and how it ends.
//! Drawn at random per session, so a long soak covers short and long-lived connections, small
//! and large writes, idle stretches mid-stream, half-closes, plain closes and aborts (RST).

use std::time::Duration;

use rand::Rng;

/// A way through the programs under test to the driver's echo backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// Plain TCP through ferry-proxy.
    Plain,
    /// TLS terminated by ferry-proxy.
    Tls,
    /// SOCKS5 CONNECT through `ferry-hop access` and its chain of `ferry-hop serve`.
    Socks,
    /// SOCKS5 UDP ASSOCIATE through the same access point and chain.
    Udp,
    /// HTTP CONNECT with Proxy-Authorization through ferry-gateway and ferry-agent.
    Connect,
}

impl Route {
    /// Every route, in report order.
    pub(crate) const ALL: [Self; 5] = [
        Self::Plain,
        Self::Tls,
        Self::Socks,
        Self::Udp,
        Self::Connect,
    ];

    /// The route's name in reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Tls => "tls",
            Self::Socks => "socks",
            Self::Udp => "udp",
            Self::Connect => "connect",
        }
    }

    /// The route's index in [`Self::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// How a TCP session ends after its rounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// Shut down the sending side, then expect the echo's EOF with no byte after it.
    HalfClose,
    /// Send part of a payload and reset the connection (SO_LINGER 0) without reading.
    Abort,
    /// Close both directions at once without a half-close.
    Drop,
}

/// One TCP session: `sizes.len()` echo rounds, `pause` between two rounds, then `end`.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    /// Bytes sent (and expected back) in each round.
    pub(crate) sizes: Vec<usize>,
    /// Silence between two rounds (zero for back-to-back rounds).
    pub(crate) pause: Duration,
    /// How the session ends.
    pub(crate) end: End,
}

impl Plan {
    /// A random plan: 70 % short sessions (1-6 back-to-back rounds), 20 % sessions idle
    /// mid-stream (2-5 rounds, 1-6 s apart), 10 % long-lived ones (5-20 rounds, 2-8 s apart,
    /// so 10 s to 2.5 min); 75 % end with a half-close, 15 % abort, 10 % close at once.
    pub(crate) fn random(rng: &mut impl Rng) -> Self {
        let (rounds, pause) = match rng.random_range(0..100) {
            0..70 => (rng.random_range(1..=6), Duration::ZERO),
            70..90 => (
                rng.random_range(2..=5),
                Duration::from_millis(rng.random_range(1000..=6000)),
            ),
            _ => (
                rng.random_range(5..=20),
                Duration::from_millis(rng.random_range(2000..=8000)),
            ),
        };
        let end = match rng.random_range(0..100) {
            0..75 => End::HalfClose,
            75..90 => End::Abort,
            _ => End::Drop,
        };
        Self {
            sizes: (0..rounds).map(|_| random_size(rng)).collect(),
            pause,
            end,
        }
    }

    /// The smallest plan: one byte echoed, then a half-close (the readiness probe).
    pub(crate) fn probe() -> Self {
        Self {
            sizes: vec![1],
            pause: Duration::ZERO,
            end: End::HalfClose,
        }
    }
}

/// A round's size: 60 % 1 B-2 KiB, 30 % 2-64 KiB, 10 % 64-512 KiB.
fn random_size(rng: &mut impl Rng) -> usize {
    match rng.random_range(0..100) {
        0..60 => rng.random_range(1..=2048),
        60..90 => rng.random_range(2048..=65_536),
        _ => rng.random_range(65_536..=524_288),
    }
}
