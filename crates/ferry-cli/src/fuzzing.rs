//! Fuzz harness body of the `config_toml` target, shared by `fuzz/` and the corpus replay in
//! `cargo test -p ferry-cli`. Not a stable API: it panics when an invariant breaks.

/// Harness `config_toml`: the first byte picks a loader (proxy, hop serve, hop access,
/// gateway, agent, or the duration and rate value parsers), the rest is the text.
///
/// Invariants: no panic; an accepted text is accepted again (validation is deterministic); an
/// error's message is one non-empty line; a parsed duration of zero was written with a `0`.
/// `from_toml` validates text only: paths named in a file are read later, by each program's
/// load step, so nothing here touches the disk.
pub fn config_toml(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match which % 6 {
        0 => check(text, ferry_app_proxy::config::ProxyConfig::from_toml),
        1 => check(text, ferry_app_hop::ServeConfig::from_toml),
        2 => check(text, ferry_app_hop::AccessConfig::from_toml),
        3 => check(text, ferry_app_tunnel::config::GatewayConfig::from_toml),
        4 => check(text, ferry_app_tunnel::config::AgentConfig::from_toml),
        _ => {
            if let Ok(d) = ferry_app_core::duration::parse_duration(text) {
                assert!(!d.is_zero() || text.contains('0'), "{text:?}");
            }
            if let Err(message) = ferry_app_tunnel::config::parse_rate(text) {
                assert!(!message.contains('\n'), "{message}");
            }
        }
    }
}

fn check<T, E: std::fmt::Display>(text: &str, load: impl Fn(&str) -> Result<T, E>) {
    match load(text) {
        Ok(_) => assert!(load(text).is_ok(), "accepted once, refused the second time"),
        Err(e) => {
            let message = e.to_string();
            assert!(
                !message.is_empty() && !message.contains('\n'),
                "{message:?}"
            );
        }
    }
}
