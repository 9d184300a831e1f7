//! `ferry-hop check`: the validated configs as text, every default filled in. Key material is
//! never printed: only where keys come from and their ids.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ferry_app_core::duration::format_duration;
use ferry_app_core::size::format_size;
use ferry_chain::Keyring;

use super::{AccessConfig, AccessMode, KeySource, RouteAction, ServeConfig};

fn opt(d: Option<Duration>) -> String {
    d.map_or_else(|| "off".to_owned(), format_duration)
}

fn metrics(a: Option<SocketAddr>) -> String {
    a.map_or_else(|| "off".to_owned(), |a| a.to_string())
}

fn source(k: Option<&KeySource>) -> String {
    match k {
        Some(KeySource::File(p)) => format!("file {}", p.display()),
        Some(KeySource::Env(v)) => format!("environment variable {v}"),
        None => "given in code".to_owned(),
    }
}

fn ids(keys: &Keyring) -> String {
    keys.ids()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn files(f: &[PathBuf]) -> String {
    f.iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl ServeConfig {
    /// A multi-line, human-readable account of the validated config with every default filled
    /// in, for `ferry-hop check serve`. Names key ids and files, never key material.
    #[must_use]
    pub fn explain(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "serve: listen={} udp={} metrics={} log_format={}",
            self.listen,
            self.udp,
            metrics(self.metrics),
            self.log_format
        );
        let _ = writeln!(
            out,
            "keys: {} (key ids {})",
            source(self.files.keys.as_ref()),
            ids(&self.keys)
        );
        if self.allow.is_empty() {
            let _ = writeln!(out, "allow: none (every next address is denied)");
        } else {
            let rules: Vec<String> = self.allow.rules().map(|r| r.entry().to_owned()).collect();
            let _ = writeln!(
                out,
                "allow: {} (special addresses denied unless named)",
                rules.join(", ")
            );
        }
        let _ = writeln!(
            out,
            "timeouts: handshake={} connect={} idle={} drain={}",
            format_duration(self.handshake_timeout),
            format_duration(self.connect_timeout),
            opt(self.idle_timeout),
            format_duration(self.drain_timeout)
        );
        let _ = writeln!(
            out,
            "memory: budget={} per connection: {}",
            format_size(self.memory_budget.get()),
            format_size(self.memory_reservation())
        );
        let _ = writeln!(
            out,
            "limits: max_connections={} max_handshakes={} per_client_handshakes={} per_client_connections={} per_client_rate={}",
            self.max_connections,
            self.max_handshakes,
            self.per_client_handshakes,
            self.per_client_connections,
            self.per_client_rate.map_or_else(
                || "unlimited".to_owned(),
                |r| format!("{r}/s (burst {})", r.get().saturating_mul(2))
            ),
        );
        let trusted: Vec<String> = self
            .trusted_senders
            .iter()
            .map(ToString::to_string)
            .collect();
        let _ = writeln!(
            out,
            "trusted_senders: {}",
            if trusted.is_empty() {
                "none (revealed client addresses are ignored)".to_owned()
            } else {
                trusted.join(", ")
            }
        );
        let _ = writeln!(
            out,
            "replay: window={} capacity={}",
            format_duration(self.replay.window),
            self.replay.capacity
        );
        let _ = writeln!(
            out,
            "udp flows: max={} idle_timeout={}",
            self.udp_max_flows,
            format_duration(self.udp_idle_timeout)
        );
        match (&self.tls, &self.files.tls) {
            (Some(_), Some((cert, key))) => {
                let _ = writeln!(
                    out,
                    "tls: cert={} key={} (loaded)",
                    cert.display(),
                    key.display()
                );
            }
            (Some(_), None) => {
                let _ = writeln!(out, "tls: on (given in code)");
            }
            (None, _) => {
                let _ = writeln!(out, "tls: off (plain TCP)");
            }
        }
        if self.next_hop_tls.is_some() {
            let _ = writeln!(
                out,
                "next_hop_tls: ca={} (loaded; the destination itself is plain TCP)",
                files(&self.files.next_hop_ca)
            );
        } else {
            let _ = writeln!(out, "next_hop_tls: off (plain TCP)");
        }
        out
    }
}

fn action(a: &RouteAction, c: &AccessConfig) -> String {
    match a {
        RouteAction::Direct => "direct".to_owned(),
        RouteAction::Block => "block".to_owned(),
        RouteAction::Chains(ids) => {
            let names: Vec<&str> = ids
                .iter()
                .filter_map(|&i| c.chains.get(i).map(|c| c.name.as_str()))
                .collect();
            format!("chains {}", names.join(", "))
        }
    }
}

impl AccessConfig {
    /// A multi-line, human-readable account of the validated config with every default filled
    /// in, for `ferry-hop check access`. Names key ids and files, never keys or passwords.
    #[must_use]
    pub fn explain(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "access: max_connections={} metrics={} log_format={}",
            self.max_connections,
            metrics(self.metrics),
            self.log_format
        );
        let per: Vec<String> = self
            .listeners
            .iter()
            .filter(|l| !matches!(l.mode, AccessMode::Udp { .. }))
            .map(|l| format!("{}={}", l.name, format_size(self.memory_reservation(l))))
            .collect();
        let _ = writeln!(
            out,
            "memory: budget={} per connection: {}",
            format_size(self.memory_budget.get()),
            if per.is_empty() {
                "no tcp listener".to_owned()
            } else {
                per.join(" ")
            }
        );
        let _ = writeln!(
            out,
            "timeouts: handshake={} connect={} idle={} drain={}",
            format_duration(self.handshake_timeout),
            format_duration(self.connect_timeout),
            opt(self.idle_timeout),
            format_duration(self.drain_timeout)
        );
        let _ = writeln!(
            out,
            "udp flows: max={} idle_timeout={}",
            self.udp_max_flows,
            format_duration(self.udp_idle_timeout)
        );
        if self.key_source.is_some() {
            let _ = writeln!(out, "keys: {}", source(self.key_source.as_ref()));
        }
        for c in &self.chains {
            let hops: Vec<String> = c
                .chain
                .hops()
                .iter()
                .map(|h| format!("{} (key id {})", h.address, h.key.id()))
                .collect();
            let tls = if c.tls.is_some() {
                format!("tls to hop 1, ca={}", files(&c.tls_ca))
            } else {
                "plain TCP to hop 1".to_owned()
            };
            let _ = writeln!(
                out,
                "chain {}: weight={} hops: {}; {tls}",
                c.name,
                c.weight,
                hops.join(" -> ")
            );
        }
        for l in &self.listeners {
            let mode = match &l.mode {
                AccessMode::Tcp { destination } => format!("tcp to {destination}"),
                AccessMode::Udp { destination } => format!("udp to {destination}"),
                AccessMode::Socks5 => "socks5".to_owned(),
                AccessMode::HttpConnect => "http".to_owned(),
            };
            let auth = match &l.auth {
                Some(a) => format!("username {:?} and a password", a.username),
                None => "none".to_owned(),
            };
            let _ = writeln!(
                out,
                "listener {}: bind={} mode={mode} credentials={auth}",
                l.name, l.bind
            );
        }
        for (i, r) in self.routes.iter().enumerate() {
            let pats: Vec<String> = r
                .destinations
                .rules()
                .map(|r| r.entry().to_owned())
                .collect();
            let _ = writeln!(
                out,
                "route[{i}]: {} -> {}",
                pats.join(", "),
                action(&r.action, self)
            );
        }
        let _ = writeln!(
            out,
            "default route: {} (first matching route wins)",
            action(&self.default_route, self)
        );
        out
    }
}
