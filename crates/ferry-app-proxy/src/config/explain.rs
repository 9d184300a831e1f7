//! `ferry-proxy check`: the validated config as text, every default filled in.

use std::time::Duration;

use ferry_app_core::duration::format_duration;
use ferry_app_core::size::format_size;
use ferry_bridge::SplicePolicy;

use super::ProxyConfig;

impl ProxyConfig {
    /// A multi-line, human-readable account of the validated config with every default filled in,
    /// for `ferry-proxy check`.
    #[must_use]
    pub fn explain(&self) -> String {
        let opt = |d: Option<Duration>| d.map_or_else(|| "off".to_owned(), format_duration);
        let mut out = format!(
            "log_format={} metrics={}\nserver: max_connections={} drain_timeout={} workers={}\n",
            self.log_format,
            self.metrics
                .map_or_else(|| "off".to_owned(), |m| m.to_string()),
            self.max_connections,
            format_duration(self.drain_timeout),
            self.workers.map_or_else(
                || format!(
                    "off (the multi-thread runtime, {} threads)",
                    ferry_app_core::workers::default_count()
                ),
                |n| n.to_string()
            )
        );
        let per: Vec<String> = self
            .listeners
            .iter()
            .map(|l| format!("{}={}", l.name, format_size(l.memory_reservation)))
            .collect();
        out.push_str(&format!(
            "memory: budget={} per connection: {}\n",
            format_size(self.memory_budget.get()),
            per.join(" ")
        ));
        for l in &self.listeners {
            let b = &l.bridge;
            out.push_str(&format!(
                "listener {}: bind={} pool={} idle_timeout={} half_close_timeout={} max_lifetime={} splice={}\n",
                l.name,
                l.bind,
                l.pool.as_deref().unwrap_or("none"),
                opt(b.idle_timeout),
                opt(b.half_close_timeout),
                opt(b.max_lifetime),
                matches!(b.splice, SplicePolicy::Auto) && l.tls.is_none(),
            ));
            if l.reuse_port {
                out.push_str(&format!("listener {} reuse_port: on\n", l.name));
            }
            match &l.tls {
                Some(tls) => out.push_str(&format!("listener {} tls: {}\n", l.name, tls.explain())),
                None => out.push_str(&format!("listener {} tls: off (plain TCP)\n", l.name)),
            }
            if let Some(a) = &l.accept_proxy {
                out.push_str(&format!(
                    "listener {} accept_proxy: {}\n",
                    l.name,
                    a.explain()
                ));
            }
            out.push_str(&super::limits_explain::explain(l));
            if !l.routes.is_empty() {
                let routes: Vec<String> = l
                    .routes
                    .iter()
                    .map(|r| format!("{} -> {}", r.pattern, r.pool))
                    .collect();
                out.push_str(&format!(
                    "listener {} routes (by SNI; exact names first, then the longest *. suffix): {}; otherwise -> {}\n",
                    l.name,
                    routes.join(", "),
                    l.pool.as_deref().unwrap_or("close the connection"),
                ));
            }
        }
        for p in self.pools.values() {
            out.push_str(&p.explain());
            if let Some(tls) = &p.tls {
                out.push_str(&format!("pool {} tls: {}\n", p.name, tls.explain()));
            }
        }
        out
    }
}
