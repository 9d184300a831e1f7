//! Admission of new client connections: access rules, connection caps and the new-connection
//! rate, checked in the connection's task before the TLS handshake and before anything
//! reaches an upstream. The client address is a parameter, so it may come from the socket or
//! from a trusted PROXY header.

use std::net::{IpAddr, SocketAddr};
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Instant as StdInstant;

use ferry_limit::{
    ClientKey, ClientKeyer, ConcurrencyLimiter, LimitExceeded, LimiterConfig, Permit, RateLimiter,
};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::clock::UtcClock;
use crate::config::{
    AccessDenied, AccessRules, DumpConfig, LimitAction, ListenerConfig, ListenerLimits,
};
use crate::conn::ConnCtx;
use crate::report::bump;
use crate::throttle::BucketMap;

/// Which limit or rule stopped a connection (the `limit` label of `ferry_proxy_limits_hit_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Limit {
    Rate,
    Concurrency,
    ListenerCap,
    DataRate,
    RequestRate,
    Cidr,
    Window,
}

impl Limit {
    /// The metric label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Rate => "rate",
            Self::Concurrency => "concurrency",
            Self::ListenerCap => "listener_cap",
            Self::DataRate => "data_rate",
            Self::RequestRate => "request_rate",
            Self::Cidr => "cidr",
            Self::Window => "window",
        }
    }

    /// The access log's (and `ferry_proxy_connections_total`'s) `end` value.
    pub(crate) fn end(self) -> &'static str {
        match self {
            Self::Rate => "limit_rate",
            Self::Concurrency => "limit_concurrency",
            Self::ListenerCap => "limit_listener_cap",
            Self::DataRate => "limit_data_rate",
            Self::RequestRate => "limit_request_rate",
            Self::Cidr => "denied_cidr",
            Self::Window => "denied_window",
        }
    }
}

/// A refused connection: why, and when trying again may help (0: it will not by itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) limit: Limit,
    pub(crate) retry_after_secs: u64,
}

/// An admitted connection: its client key and its concurrency permit (held until dropped).
#[derive(Debug)]
pub(crate) struct Admitted {
    pub(crate) key: ClientKey,
    _permit: Option<Permit>,
}

/// The client rules of one listener, with the limiter state they need.
#[derive(Debug)]
pub(crate) struct ClientRules {
    keyer: ClientKeyer,
    access: AccessRules,
    limits_action: LimitAction,
    rate: Option<RateLimiter>,
    concurrency: Option<ConcurrencyLimiter>,
    /// Per-client byte buckets (data rate).
    pub(crate) buckets: Option<BucketMap>,
    /// Per-client request units.
    pub(crate) requests: Option<RateLimiter>,
    pub(crate) dump: Option<DumpConfig>,
    /// The settings these rules were built from, to keep them across reloads.
    settings: (ListenerLimits, AccessRules, Option<DumpConfig>),
}

impl ClientRules {
    /// Whether these rules were built from `config`'s limits, access rules and dump settings
    /// (then a reload keeps them, with their limiter state).
    pub(crate) fn same_as(&self, config: &ListenerConfig) -> bool {
        self.settings
            == (
                config.limits.clone(),
                config.access.clone(),
                config.dump.clone(),
            )
    }

    /// Builds the limiters of `config`; `epoch` is the limiters' time base.
    ///
    /// # Errors
    ///
    /// A reason when the dump directory is not a directory.
    pub(crate) fn new(config: &ListenerConfig, epoch: StdInstant) -> Result<Self, String> {
        let l = &config.limits;
        let limiter_config = LimiterConfig::default();
        let concurrency = match (l.max_connections, l.per_client_connections) {
            (None, None) => None,
            (cap, per_client) => Some(ConcurrencyLimiter::new(
                cap.unwrap_or(NonZeroUsize::MAX),
                per_client.unwrap_or(NonZeroU32::MAX),
            )),
        };
        if let Some(d) = &config.dump
            && !d.dir.is_dir()
        {
            return Err(format!("{} is not a directory", d.dir.display()));
        }
        Ok(Self {
            keyer: ClientKeyer::new(l.v6_prefix),
            access: config.access.clone(),
            limits_action: l.action.clone(),
            rate: l
                .connection_rate
                .map(|q| RateLimiter::new(q, &limiter_config, epoch)),
            concurrency,
            buckets: l.data_rate.map(|d| BucketMap::new(d.throttle)),
            requests: l
                .request_rate
                .map(|q| RateLimiter::new(q, &limiter_config, epoch)),
            dump: config.dump.clone(),
            settings: (l.clone(), config.access.clone(), config.dump.clone()),
        })
    }

    /// The action for `limit`: the access rules' for CIDR and window refusals, the limits'
    /// otherwise.
    pub(crate) fn action(&self, limit: Limit) -> &LimitAction {
        match limit {
            Limit::Cidr | Limit::Window => &self.access.action,
            _ => &self.limits_action,
        }
    }

    /// Whether anything acts on the bytes of a connection (the copy path is needed).
    pub(crate) fn watches_data(&self) -> bool {
        self.buckets.is_some() || self.requests.is_some() || self.dump.is_some()
    }

    /// Checks a new connection from `client` at `now` (`clock` is read only for time
    /// windows): CIDR lists, time windows, listener cap and per-client concurrency (taking a
    /// permit), then the new-connection rate (charged only when everything else passed).
    pub(crate) fn check(
        &self,
        client: IpAddr,
        now: StdInstant,
        clock: &dyn UtcClock,
    ) -> Result<Admitted, Refusal> {
        let unix_secs = if self.access.windows.is_empty() {
            0
        } else {
            clock.unix_secs()
        };
        self.access.check(client, unix_secs).map_err(|e| match e {
            AccessDenied::Window { retry_after_secs } => Refusal {
                limit: Limit::Window,
                retry_after_secs,
            },
            _ => Refusal {
                limit: Limit::Cidr,
                retry_after_secs: 0,
            },
        })?;
        // Hashing the address is only worth it when something is keyed by it.
        let key = if self.rate.is_some()
            || self.concurrency.is_some()
            || self.buckets.is_some()
            || self.requests.is_some()
        {
            self.keyer.key_for_ip(client.to_canonical())
        } else {
            ClientKey::from_raw(0)
        };
        let permit = self
            .concurrency
            .as_ref()
            .map(|c| c.try_acquire(key))
            .transpose()
            .map_err(|e| Refusal {
                limit: match e {
                    LimitExceeded::PerKey { .. } => Limit::Concurrency,
                    _ => Limit::ListenerCap,
                },
                retry_after_secs: 0,
            })?;
        if let Some(rate) = &self.rate
            && let Some(denied) = rate.check(key, now).denied()
        {
            return Err(Refusal {
                limit: Limit::Rate,
                retry_after_secs: denied.retry_after_secs(),
            });
        }
        Ok(Admitted {
            key,
            _permit: permit,
        })
    }
}

/// Counts a limit hit in the metrics.
pub(crate) fn count_hit(listener: &str, limit: Limit) {
    metrics::counter!(
        "ferry_proxy_limits_hit_total",
        "listener" => listener.to_owned(),
        "limit" => limit.label()
    )
    .increment(1);
}

/// Admits `stream` from `client` (the socket's peer, or the address a trusted PROXY header
/// gave), or refuses it: counts, logs, applies the action and returns `None`.
pub(crate) async fn admit(
    stream: TcpStream,
    client: SocketAddr,
    ctx: &ConnCtx,
) -> Option<(TcpStream, Admitted)> {
    let rules = &ctx.listener.rules;
    let now = Instant::now().into_std();
    let refusal = match rules.check(client.ip(), now, &*ctx.clock) {
        Ok(admitted) => return Some((stream, admitted)),
        Err(r) => r,
    };
    let name = &ctx.listener.name;
    bump(&ctx.stats.refused);
    count_hit(name, refusal.limit);
    crate::metrics::connection_ended(name, refusal.limit.end(), 0, 0);
    tracing::info!(
        target: "ferry::access",
        listener = %name,
        client = %client,
        retry_after = refusal.retry_after_secs,
        end = refusal.limit.end(),
        "connection refused"
    );
    // Boxed: only refused connections carry the refusal's state.
    Box::pin(crate::refuse::refuse(
        stream,
        rules.action(refusal.limit),
        refusal.retry_after_secs,
    ))
    .await;
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::config::ProxyConfig;

    fn rules(extra: &str) -> ClientRules {
        let c = ProxyConfig::from_toml(&format!(
            "[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\n{extra}\n\
             [pool.p]\nupstreams = [\"127.0.0.1:9\"]\n"
        ))
        .unwrap();
        #[allow(clippy::disallowed_methods)] // a base instant for the limiters
        let epoch = StdInstant::now();
        ClientRules::new(&c.listeners[0], epoch).unwrap()
    }

    #[test]
    fn a_refused_connection_is_not_charged_to_the_rate() {
        let r = rules("[listener.limits]\nper_client_connections = 1\nconnection_rate = \"2/m\"");
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let clock = FixedClock(0);
        let now = r.rate.as_ref().unwrap().epoch();
        let first = r.check(ip, now, &clock).unwrap();
        assert_eq!(
            r.check(ip, now, &clock).unwrap_err().limit,
            Limit::Concurrency
        );
        drop(first);
        // Had the refused attempt been charged, the burst of 2 would be spent.
        let second = r.check(ip, now, &clock).unwrap();
        drop(second);
        let denied = r.check(ip, now, &clock).unwrap_err();
        assert_eq!((denied.limit, denied.retry_after_secs), (Limit::Rate, 30));
    }

    #[test]
    fn access_rules_come_first_and_ipv6_is_keyed_by_prefix() {
        let r = rules(
            "[listener.limits]\nper_client_connections = 1\n\
             [listener.access]\ndeny = [\"10.0.0.0/8\"]",
        );
        let clock = FixedClock(0);
        #[allow(clippy::disallowed_methods)] // any instant: no rate limit here
        let now = StdInstant::now();
        let denied = r
            .check("10.1.1.1".parse().unwrap(), now, &clock)
            .unwrap_err();
        assert_eq!(denied.limit, Limit::Cidr);
        let a = r
            .check("2001:db8::1".parse().unwrap(), now, &clock)
            .unwrap();
        let same_64 = r.check("2001:db8::2".parse().unwrap(), now, &clock);
        assert_eq!(same_64.unwrap_err().limit, Limit::Concurrency);
        let other_64 = r.check("2001:db8:0:1::1".parse().unwrap(), now, &clock);
        assert!(other_64.is_ok());
        drop(a);
    }
}
