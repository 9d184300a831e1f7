//! Unit tests of `[pool.NAME]` (policy, weights, health, ejection, PROXY protocol) and
//! `accept_proxy`.
use super::*;
use ferry_front::proxy_protocol::Version;
use ferry_pool::{AllDown, Policy, Target};

const FULL: &str = r#"
[[listener]]
bind = "127.0.0.1:0"
pool = "web"
accept_proxy = { trusted = ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"], versions = ["v2"], timeout = "3s" }

[pool.web]
upstreams = ["10.0.0.1:80", { address = "backend.internal:80", weight = 3 }]
policy = "weighted"
connect_timeout = "1s"
connect_budget = "3s"
dns_interval = "1m"
all_down = "fail"
send_proxy = "v1"

[pool.web.health]
interval = "2s"
timeout = "500ms"
rise = 1
fall = 4
send = "PING\r\n"
expect = "+PONG"

[pool.web.ejection]
consecutive_failures = 2
base_time = "5s"
max_time = "1m"
"#;

#[test]
fn parses_every_pool_setting() {
    let c = ProxyConfig::from_toml(FULL).unwrap();
    let p = &c.pools["web"];
    assert_eq!(p.upstreams.len(), 2);
    assert_eq!(p.upstreams[0].weight.get(), 1);
    assert_eq!(p.upstreams[1].weight.get(), 3);
    assert!(matches!(p.upstreams[1].target, Target::Host { .. }));
    let s = &p.settings;
    assert_eq!(s.policy, Policy::Weighted);
    assert_eq!(s.connect_timeout, Duration::from_secs(1));
    assert_eq!(s.connect_budget, Duration::from_secs(3));
    assert_eq!(s.dns_interval, Duration::from_secs(60));
    assert_eq!(s.all_down, AllDown::Fail);
    let h = s.health_check.as_ref().unwrap();
    assert_eq!((h.rise.get(), h.fall.get()), (1, 4));
    assert_eq!(h.timeout, Duration::from_millis(500));
    assert_eq!(h.send.as_deref(), Some(&b"PING\r\n"[..]));
    assert_eq!(h.expect.as_deref(), Some(&b"+PONG"[..]));
    let e = s.ejection.as_ref().unwrap();
    assert_eq!(e.consecutive_failures.get(), 2);
    assert_eq!(p.send_proxy, Some(Version::V1));
    // With send_proxy, probes start with a LOCAL header.
    let probe = p.effective_settings().health_check.unwrap().send.unwrap();
    assert_eq!(probe, b"PROXY UNKNOWN\r\nPING\r\n".to_vec());
    let a = c.listeners[0].accept_proxy.as_ref().unwrap();
    assert!(a.trusts("10.1.2.3".parse().unwrap()));
    assert!(a.trusts("::ffff:10.1.2.3".parse().unwrap()), "mapped v4");
    assert!(a.trusts("192.0.2.7".parse().unwrap()));
    assert!(!a.trusts("192.0.2.8".parse().unwrap()));
    assert!(a.trusts("2001:db8::9".parse().unwrap()));
    assert!(!a.v1 && a.v2);
    assert_eq!(a.timeout, Duration::from_secs(3));
    let text = c.explain();
    assert!(text.contains("policy=weighted"), "{text}");
    assert!(text.contains("backend.internal:80 (weight 3)"), "{text}");
    assert!(text.contains("pool web health: every 2s"), "{text}");
    assert!(
        text.contains("accept_proxy: PROXY header required"),
        "{text}"
    );
}

#[test]
fn defaults_and_policy_spellings() {
    let base = "[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\n[pool.p]\nupstreams = [\"127.0.0.1:1\"]\n";
    let c = ProxyConfig::from_toml(base).unwrap();
    let p = &c.pools["p"];
    assert_eq!(p.settings, ferry_pool::PoolConfig::default());
    assert_eq!(p.send_proxy, None);
    assert!(c.listeners[0].accept_proxy.is_none());
    for (text, want) in [
        ("round_robin", Policy::RoundRobin),
        ("least_connections", Policy::LeastConnections),
        ("consistent-hash", Policy::ConsistentHash),
    ] {
        let c = ProxyConfig::from_toml(&format!("{base}policy = \"{text}\"\n")).unwrap();
        assert_eq!(c.pools["p"].settings.policy, want);
    }
    let off =
        ProxyConfig::from_toml(&format!("{base}[pool.p.ejection]\nenabled = false\n")).unwrap();
    assert!(off.pools["p"].settings.ejection.is_none());
}

fn err(text: &str) -> String {
    ProxyConfig::from_toml(text).unwrap_err().to_string()
}

#[test]
fn pool_errors_name_the_key() {
    let base = "[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\n[pool.p]\n";
    let up = "upstreams = [\"127.0.0.1:1\"]\n";
    for (extra, key) in [
        (
            "upstreams = [{ address = \"127.0.0.1:1\", weight = 0 }]\n".to_owned(),
            "pool.p.upstreams[0].weight",
        ),
        (
            "upstreams = [{ address = \"127.0.0.1:1\", weight = 1001 }]\n".to_owned(),
            "pool.p.upstreams[0].weight",
        ),
        (
            "upstreams = [\"no-port\"]\n".to_owned(),
            "pool.p.upstreams[0]",
        ),
        (format!("{up}policy = \"random\"\n"), "pool.p.policy"),
        (
            format!("{up}connect_timeout = \"0s\"\n"),
            "pool.p.connect_timeout",
        ),
        (
            format!("{up}[pool.p.health]\nrise = 0\n"),
            "pool.p.health.rise",
        ),
        (
            format!("{up}[pool.p.health]\nexpect = \"\"\n"),
            "pool.p.health.expect",
        ),
        (
            format!("{up}[pool.p.ejection]\nbase_time = \"1m\"\nmax_time = \"1s\"\n"),
            "pool.p.ejection.max_time",
        ),
    ] {
        let e = err(&format!("{base}{extra}"));
        assert!(e.contains(key), "{extra}: {e}");
    }
    assert!(err(&format!("{base}{up}send_proxy = \"v3\"\n")).contains("send_proxy"));
    assert!(err(&format!("{base}{up}[pool.p.health]\nbogus = 1\n")).contains("bogus"));
    assert!(
        err(&format!(
            "{base}upstreams = [{{ address = \"127.0.0.1:1\", wieght = 2 }}]\n"
        ))
        .contains("wieght")
    );
}

#[test]
fn accept_proxy_errors_name_the_key() {
    let tail = "[pool.p]\nupstreams = [\"127.0.0.1:1\"]\n";
    let l = |ap: &str| {
        format!("[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\naccept_proxy = {ap}\n{tail}")
    };
    for (ap, key) in [
        ("{ trusted = [] }", "listener[0].accept_proxy.trusted"),
        (
            "{ trusted = [\"10.0.0.0/33\"] }",
            "listener[0].accept_proxy.trusted[0]",
        ),
        (
            "{ trusted = [\"x\"] }",
            "listener[0].accept_proxy.trusted[0]",
        ),
        (
            "{ trusted = [\"10.0.0.0/8\"], versions = [] }",
            "listener[0].accept_proxy.versions",
        ),
        (
            "{ trusted = [\"10.0.0.0/8\"], timeout = \"0s\" }",
            "listener[0].accept_proxy.timeout",
        ),
    ] {
        let e = err(&l(ap));
        assert!(e.contains(key), "{ap}: {e}");
    }
    assert!(err(&l("{ trusted = [\"10.0.0.0/8\"], versions = [\"v3\"] }")).contains("v3"));
}
