//! `ferry-proxy check` lines for a listener's limits, access rules and dump.

use super::limits::DataRate;
use super::{LimitAction, ListenerConfig};

fn action(a: &LimitAction) -> String {
    match a {
        LimitAction::Close => "close".to_owned(),
        LimitAction::Reset => "reset".to_owned(),
        LimitAction::Reply(r) => format!("reply {:?}", r.template()),
    }
}

/// The limits, access and dump lines of listener `l` (empty when it has none).
pub(super) fn explain(l: &ListenerConfig) -> String {
    let mut out = String::new();
    let m = &l.limits;
    if !m.is_empty() {
        let mut parts = Vec::new();
        if let Some(q) = m.connection_rate {
            parts.push(format!(
                "connection_rate=1/{:?} burst={}",
                q.emission_interval(),
                q.burst()
            ));
        }
        if let Some(n) = m.per_client_connections {
            parts.push(format!("per_client_connections={n}"));
        }
        if let Some(n) = m.max_connections {
            parts.push(format!("max_connections={n}"));
        }
        if let Some(DataRate { throttle }) = m.data_rate {
            parts.push(format!(
                "data_rate={} B/s burst={} B (per client and direction)",
                throttle.bytes_per_sec(),
                throttle.burst()
            ));
        }
        if let Some(q) = m.request_rate {
            parts.push(format!(
                "request_rate=1/{:?} burst={}",
                q.emission_interval(),
                q.burst()
            ));
        }
        parts.push(format!("v6_prefix=/{}", m.v6_prefix.bits()));
        parts.push(format!("action={}", action(&m.action)));
        out.push_str(&format!(
            "listener {} limits: {}\n",
            l.name,
            parts.join(" ")
        ));
    }
    let a = &l.access;
    if !a.is_empty() {
        let list = |v: &[ipnet::IpNet]| {
            if v.is_empty() {
                "-".to_owned()
            } else {
                v.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            }
        };
        let windows: Vec<String> = a.windows.iter().map(ToString::to_string).collect();
        out.push_str(&format!(
            "listener {} access: allow={} deny={} (deny wins) windows(UTC)={} action={}\n",
            l.name,
            if a.allow.is_empty() {
                "all".to_owned()
            } else {
                list(&a.allow)
            },
            list(&a.deny),
            if windows.is_empty() {
                "all day".to_owned()
            } else {
                windows.join(",")
            },
            action(&a.action),
        ));
    }
    if let Some(d) = &l.dump {
        out.push_str(&format!(
            "listener {} dump: dir={} hex_trace={} max_bytes={} queue={}\n",
            l.name,
            d.dir.display(),
            d.hex_trace,
            d.max_bytes,
            d.queue
        ));
    }
    if (m.data_rate.is_some() || m.request_rate.is_some() || l.dump.is_some()) && l.tls.is_none() {
        out.push_str(&format!(
            "listener {} relays on the copy path (data limits or dump need the bytes; no splice)\n",
            l.name
        ));
    }
    out
}
