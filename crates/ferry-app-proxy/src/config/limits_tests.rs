//! Unit tests of `[listener.limits]`, `[listener.access]` and `[listener.dump]`: the examples
//! in docs/proxy.md, defaults, and errors that name their key.

use std::time::Duration;

use proptest::prelude::*;

use super::*;

const DOCS: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/proxy.md"));

/// The ```toml blocks of a docs section (from its `## ` heading to the next).
fn toml_blocks(section: &str) -> Vec<&'static str> {
    let start = DOCS.find(&format!("\n## {section}\n")).expect("section");
    let rest = &DOCS[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |e| e + 3);
    rest[..end]
        .split("```toml\n")
        .skip(1)
        .map(|b| &b[..b.find("```").expect("closed block")])
        .collect()
}

#[test]
fn docs_limits_example_parses_to_what_it_says() {
    let blocks = toml_blocks("Client limits");
    assert_eq!(blocks.len(), 1);
    let c = ProxyConfig::from_toml(blocks[0]).unwrap();
    let l = &c.listeners[0].limits;
    let q = l.connection_rate.unwrap();
    assert_eq!(q.burst().get(), 40);
    assert_eq!(q.emission_interval(), Duration::from_millis(50));
    assert_eq!(l.per_client_connections.unwrap().get(), 64);
    assert_eq!(l.max_connections.unwrap().get(), 5000);
    let d = l.data_rate.unwrap().throttle;
    assert_eq!(
        (d.bytes_per_sec().get(), d.burst().get()),
        (1 << 20, 1 << 18)
    );
    assert_eq!(l.request_rate.unwrap().burst().get(), 200);
    let LimitAction::Reply(reply) = &l.action else {
        panic!("{:?}", l.action)
    };
    assert_eq!(
        &reply.render(7)[..],
        b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(l.v6_prefix.bits(), 64);
    let text = c.explain();
    assert!(text.contains("listener web limits: connection_rate=1/50ms burst=40 per_client_connections=64 max_connections=5000 data_rate=1048576 B/s burst=262144 B"), "{text}");
    assert!(text.contains("Retry-After: {retry_after}"), "{text}");
    assert!(
        text.contains("listener web relays on the copy path"),
        "{text}"
    );
}

#[test]
fn docs_access_example_parses_to_what_it_says() {
    let blocks = toml_blocks("Access rules");
    assert_eq!(blocks.len(), 1);
    let c = ProxyConfig::from_toml(blocks[0]).unwrap();
    let l = &c.listeners[0];
    let a = &l.access;
    assert_eq!(a.allow.len(), 3);
    assert_eq!(a.allow[1].to_string(), "192.168.1.7/32");
    assert_eq!(a.deny[0].to_string(), "10.66.0.0/16");
    assert_eq!(a.windows[1].to_string(), "22:00-02:00");
    assert!(matches!(a.action, LimitAction::Reply(_)));
    assert_eq!(l.bridge.max_lifetime, Some(Duration::from_secs(12 * 3600)));
    assert_eq!(l.bridge.idle_timeout, Some(Duration::from_secs(1800)));
    let text = c.explain();
    assert!(
        text.contains("access: allow=10.0.0.0/8,192.168.1.7/32,2001:db8::/32 deny=10.66.0.0/16 (deny wins) windows(UTC)=08:00-18:00,22:00-02:00"),
        "{text}"
    );
}

#[test]
fn docs_dump_example_parses_to_what_it_says() {
    let blocks = toml_blocks("Payload dump");
    assert_eq!(blocks.len(), 1);
    let c = ProxyConfig::from_toml(blocks[0]).unwrap();
    let d = c.listeners[0].dump.as_ref().unwrap();
    assert_eq!(d.dir, Path::new("/var/tmp/ferry-dump"));
    assert!(d.hex_trace);
    assert_eq!(d.max_bytes, DEFAULT_DUMP_MAX_BYTES);
    assert_eq!(d.queue, DEFAULT_DUMP_QUEUE);
}

#[test]
fn defaults_are_no_limits_allow_all_no_dump() {
    let c = ProxyConfig::from_flags("127.0.0.1:0", &["127.0.0.1:9".to_owned()]).unwrap();
    let l = &c.listeners[0];
    assert!(l.limits.is_empty());
    assert_eq!(l.limits.action, LimitAction::Close);
    assert!(l.access.is_empty());
    assert!(l.dump.is_none());
    let c = ProxyConfig::from_toml(&with("[listener.limits]\n[listener.access]\n")).unwrap();
    assert!(c.listeners[0].limits.is_empty() && c.listeners[0].access.is_empty());
}

fn with(extra: &str) -> String {
    format!(
        "[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\n{extra}\n[pool.p]\nupstreams = [\"127.0.0.1:9\"]\n"
    )
}

/// The error for `extra`: (key, reason) for invalid values, the message for syntax errors.
fn error(extra: &str) -> (String, String) {
    match ProxyConfig::from_toml(&with(extra)).unwrap_err() {
        ConfigError::Invalid { key, reason } => (key, reason),
        ConfigError::Syntax { message, .. } => ("<syntax>".to_owned(), message),
        other => panic!("{other:?}"),
    }
}

#[test]
fn errors_name_their_key() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "[listener.limits]\nconnection_rate = \"10\"",
            "listener[0].limits.connection_rate",
            "N/s",
        ),
        (
            "[listener.limits]\nconnection_rate = \"0/s\"",
            "listener[0].limits.connection_rate",
            "from 1",
        ),
        (
            "[listener.limits]\nconnection_rate = \"5/d\"",
            "listener[0].limits.connection_rate",
            "period",
        ),
        (
            "[listener.limits]\nconnection_rate = \"2000000000/s\"",
            "listener[0].limits.connection_rate",
            "zero",
        ),
        (
            "[listener.limits]\nconnection_rate = \"1/s\"\nconnection_burst = 0",
            "listener[0].limits.connection_burst",
            "at least 1",
        ),
        (
            "[listener.limits]\nconnection_burst = 3",
            "listener[0].limits.connection_burst",
            "needs connection_rate",
        ),
        (
            "[listener.limits]\nrequest_burst = 3",
            "listener[0].limits.request_burst",
            "needs request_rate",
        ),
        (
            "[listener.limits]\ndata_burst = 3",
            "listener[0].limits.data_burst",
            "needs data_rate",
        ),
        (
            "[listener.limits]\ndata_rate = 0",
            "listener[0].limits.data_rate",
            "at least 1",
        ),
        (
            "[listener.limits]\nper_client_connections = 0",
            "listener[0].limits.per_client_connections",
            "at least 1",
        ),
        (
            "[listener.limits]\nmax_connections = 0",
            "listener[0].limits.max_connections",
            "at least 1",
        ),
        (
            "[listener.limits]\naction = \"reply\"",
            "listener[0].limits.reply",
            "required",
        ),
        (
            "[listener.limits]\naction = \"reset\"\nreply = \"x\"",
            "listener[0].limits.reply",
            "only used",
        ),
        (
            "[listener.limits]\nv6_prefix = 129",
            "listener[0].limits.v6_prefix",
            "128",
        ),
        (
            "[listener.access]\ndeny = [\"10.0.0.0/8\", \"nope\"]",
            "listener[0].access.deny[1]",
            "not a network (ADDRESS/PREFIX)",
        ),
        (
            "[listener.access]\nallow = [\"10.1.2.3/8\"]",
            "listener[0].access.allow[0]",
            "10.0.0.0/8",
        ),
        (
            "[listener.access]\nwindows = [\"8-18\"]",
            "listener[0].access.windows[0]",
            "HH:MM",
        ),
        (
            "[listener.access]\nwindows = [\"08:00-08:00\"]",
            "listener[0].access.windows[0]",
            "empty",
        ),
        (
            "[listener.access]\naction = \"reply\"",
            "listener[0].access.reply",
            "required",
        ),
        (
            "[listener.dump]\ndir = \"\"",
            "listener[0].dump.dir",
            "empty",
        ),
        (
            "[listener.dump]\ndir = \"/tmp\"\nmax_bytes = 0",
            "listener[0].dump.max_bytes",
            "at least 1",
        ),
        (
            "[listener.dump]\ndir = \"/tmp\"\nqueue = 0",
            "listener[0].dump.queue",
            "at least 1",
        ),
        ("[listener.limits]\nrate = 3", "<syntax>", "rate"),
        ("[listener.access]\nallowed = []", "<syntax>", "allowed"),
        (
            "[listener.dump]\ndir = \"/tmp\"\nhex = true",
            "<syntax>",
            "hex",
        ),
        ("[listener.limits]\naction = \"drop\"", "<syntax>", "drop"),
        ("limitz = 3", "<syntax>", "limitz"),
        ("limits = 3", "<syntax>", "limits"),
    ];
    for (extra, key, reason) in cases {
        let (k, r) = error(extra);
        assert_eq!(&k, key, "{extra}: {r}");
        assert!(r.contains(reason), "{extra}: {k}: {r:?} lacks {reason:?}");
    }
}

#[test]
fn reply_alone_means_reply() {
    let c = ProxyConfig::from_toml(&with("[listener.access]\nreply = \"no\"")).unwrap();
    assert_eq!(
        c.listeners[0].access.action,
        LimitAction::Reply(Reply::new("no"))
    );
}

proptest! {
    #[test]
    fn window_and_rate_parsers_never_panic(text in "\\PC{0,24}") {
        let _ = TimeWindow::parse(&text);
        let _ = ProxyConfig::from_toml(&with(&format!(
            "[listener.limits]\nconnection_rate = {text:?}\n[listener.access]\nwindows = [{text:?}]\nallow = [{text:?}]"
        )));
    }

    #[test]
    fn windows_contain_exactly_their_seconds(a in 0u32..1440, b in 0u32..1440, t in 0u32..86_400) {
        prop_assume!(a != b);
        let text = format!("{:02}:{:02}-{:02}:{:02}", a / 60, a % 60, b / 60, b % 60);
        let w = TimeWindow::parse(&text).unwrap();
        let (start, end) = (a * 60, b * 60);
        let inside = if start < end { t >= start && t < end } else { t >= start || t < end };
        prop_assert_eq!(w.contains(t), inside);
        let wait = w.secs_until_open(t);
        prop_assert_eq!(wait == 0, inside);
        prop_assert!(w.contains((t + wait) % 86_400));
        prop_assert_eq!(w.to_string(), text);
    }

    #[test]
    fn reply_render_is_the_text_with_the_number(text in "\\PC{0,40}", n in any::<u64>()) {
        let r = Reply::new(&text);
        prop_assert_eq!(
            r.render(n).to_vec(),
            text.replace(RETRY_AFTER_PLACEHOLDER, &n.to_string()).into_bytes()
        );
    }
}
