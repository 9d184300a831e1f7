#![allow(clippy::unwrap_used)]

use std::time::Duration;

use super::*;

/// A gateway permitting 127.0.0.1:22 and app.internal:5432, with `services` appended.
fn gw(services: &str) -> Result<GatewayConfig, String> {
    GatewayConfig::from_toml(&format!(
        r#"
listen = "127.0.0.1:8080"
agent_listen = "127.0.0.1:4433"
allow = ["127.0.0.1:22", "app.internal:5432"]
[tls]
self_signed = true
[auth]
tokens = "tokens.txt"
[limits]
max_tunnels_per_client = 7
client_rate = "3/s burst 4"
[timeouts]
idle = "2m"
{services}
"#
    ))
    .map_err(|e| e.to_string())
}

const SSH: &str = r#"
[[service]]
name = "ssh"
bind = "0.0.0.0:2222"
agent = "edge-1"
destination = "127.0.0.1:22"
"#;

#[test]
fn a_service_inherits_the_gateways_limits_and_idle_timeout() {
    let c = gw(SSH).unwrap();
    let [s] = c.services.as_slice() else {
        panic!("{:?}", c.services)
    };
    assert_eq!(s.name, "ssh");
    assert_eq!(s.bind.to_string(), "0.0.0.0:2222");
    assert_eq!(s.agent.as_str(), "edge-1");
    assert_eq!(s.destination.to_string(), "127.0.0.1:22");
    assert!(s.allow_from.is_empty());
    assert!(s.admits("203.0.113.9".parse().unwrap()));
    assert_eq!(s.limits.max_tunnels_per_client.get(), 7);
    assert_eq!(s.limits.client_rate, c.front.limits.client_rate);
    assert_eq!(s.limits.agent_rate, None);
    assert_eq!(s.limits.auth_failures, None);
    assert_eq!(s.send_proxy, None);
    assert_eq!(s.bridge.idle_timeout, Some(Duration::from_secs(120)));
    assert!(
        c.explain()
            .contains("service ssh: tcp bind=0.0.0.0:2222 agent=edge-1")
    );
    assert!(gw("").unwrap().explain().contains("services: none"));
}

#[test]
fn a_service_with_every_key() {
    let c = gw(r#"
[[service]]
name = "db.ci-1"
bind = "[::]:5432"
protocol = "tcp"
agent = "edge-2"
destination = "app.internal:5432"
allow_from = ["10.0.0.0/8", "2001:db8::1"]
max_connections_per_client = 2
client_rate = "off"
send_proxy = "v2"
idle_timeout = "off"
"#)
    .unwrap();
    let s = &c.services[0];
    assert_eq!(s.allow_from.len(), 2);
    assert!(s.admits("10.1.2.3".parse().unwrap()));
    assert!(s.admits("::ffff:10.1.2.3".parse().unwrap()));
    assert!(!s.admits("192.0.2.1".parse().unwrap()));
    assert_eq!(s.limits.max_tunnels_per_client.get(), 2);
    assert_eq!(s.limits.client_rate, None);
    assert_eq!(s.send_proxy, Some(ferry_front::proxy_protocol::Version::V2));
    assert_eq!(s.bridge.idle_timeout, None);
}

#[test]
fn service_errors_name_the_key() {
    let with = |extra: &str| gw(&format!("{SSH}{extra}")).unwrap_err();
    let e = gw(&SSH.replace("[[service]]", "[[service]]\nprotocol = \"sctp\"")).unwrap_err();
    assert!(
        e.contains("service[0].protocol") && e.contains("expected \"tcp\" or \"udp\""),
        "{e}"
    );
    let e = with(
        "[[service]]\nname = \"ssh\"\nbind = \"0.0.0.0:2223\"\nagent = \"edge-1\"\ndestination = \"127.0.0.1:22\"\n",
    );
    assert!(
        e.contains("service[1].name") && e.contains("used by another service"),
        "{e}"
    );
    let e = with(
        "[[service]]\nname = \"ssh2\"\nbind = \"0.0.0.0:2222\"\nagent = \"edge-1\"\ndestination = \"127.0.0.1:22\"\n",
    );
    assert!(
        e.contains("service[1].bind") && e.contains("used by another service"),
        "{e}"
    );
    let e = gw(&SSH.replace("0.0.0.0:2222", "127.0.0.1:8080")).unwrap_err();
    assert!(
        e.contains("service[0].bind") && e.contains("`listen`"),
        "{e}"
    );
    let e = gw(&SSH.replace("edge-1", "bad id")).unwrap_err();
    assert!(e.contains("service[0].agent"), "{e}");
    let e = gw(&SSH.replace("127.0.0.1:22", "127.0.0.1:23")).unwrap_err();
    assert!(
        e.contains("service[0].destination")
            && e.contains("not permitted by the gateway's `allow`"),
        "{e}"
    );
    let e = gw(&SSH.replace("127.0.0.1:22", "no-port")).unwrap_err();
    assert!(e.contains("service[0].destination"), "{e}");
    let e = gw(&SSH.replace("\"ssh\"", "\"s s\"")).unwrap_err();
    assert!(e.contains("service[0].name"), "{e}");
    let e = with("allow_from = [\"10.1.2.3/8\"]\n");
    assert!(
        e.contains("service[0].allow_from[0]") && e.contains("did you mean"),
        "{e}"
    );
    let e = with("max_connections_per_client = 0\n");
    assert!(e.contains("service[0].max_connections_per_client"), "{e}");
    let e = with("send_proxy = \"v3\"\n");
    assert!(e.contains("send_proxy"), "{e}");
    let e = with("bogus = 1\n");
    assert!(e.contains("bogus"), "{e}");
}

#[test]
fn the_documented_service_example_parses() {
    let example = tests::doc_example(include_str!("service.rs"));
    assert!(example.contains("[[service]]"));
    let c = GatewayConfig::from_toml(&format!(
        r#"
listen = "127.0.0.1:8080"
agent_listen = "127.0.0.1:4433"
allow = ["127.0.0.1:22", "10.0.0.53:53"]
[tls]
self_signed = true
[auth]
tokens = "tokens.txt"
{example}
"#
    ))
    .unwrap();
    assert!(c.services[0].accept_proxy.is_some());
    assert_eq!(c.services[0].name, "ssh");
    assert_eq!(c.services[1].protocol, ferry_tunnel::Protocol::Udp);
    assert_eq!(c.services[1].max_flows.get(), 1024);
}

#[test]
fn a_service_accepts_proxy_headers_only_when_asked_and_errors_name_the_key() {
    let c = gw(SSH).unwrap();
    assert_eq!(c.services[0].accept_proxy, None);
    assert!(!c.services[0].explain().contains("accept_proxy"));
    let with = format!(
        "{SSH}accept_proxy = {{ trusted = [\"10.0.0.0/8\"], versions = [\"v1\"], timeout = \"3s\" }}\nsend_proxy = \"v2\"\n"
    );
    let c = gw(&with).unwrap();
    let s = &c.services[0];
    let a = s.accept_proxy.as_ref().unwrap();
    assert_eq!(a.trusted[0].to_string(), "10.0.0.0/8");
    assert!(a.v1 && !a.v2);
    assert_eq!(a.timeout, Duration::from_secs(3));
    assert!(
        s.explain().contains(
            "accept_proxy: PROXY header required from trusted=[10.0.0.0/8] versions=v1 timeout=3s"
        ),
        "{}",
        s.explain()
    );
    // The client front is not affected by a service's accept_proxy.
    assert_eq!(c.front.accept_proxy, None);
    for (ap, key) in [
        ("{ trusted = [] }", "service[0].accept_proxy.trusted"),
        (
            "{ trusted = [\"10.0.0.1/8\"] }",
            "service[0].accept_proxy.trusted[0]",
        ),
        (
            "{ trusted = [\"::1\"], timeout = \"0s\" }",
            "service[0].accept_proxy.timeout",
        ),
        (
            "{ trusted = [\"::1\"], versions = [] }",
            "service[0].accept_proxy.versions",
        ),
    ] {
        let e = gw(&format!("{SSH}accept_proxy = {ap}\n")).unwrap_err();
        assert!(e.contains(key), "{ap}: {e}");
    }
}

const DNS: &str = r#"
[[service]]
name = "dns"
bind = "0.0.0.0:2222"
protocol = "udp"
agent = "edge-1"
destination = "127.0.0.1:22"
"#;

#[test]
fn a_udp_service_has_its_defaults_and_its_own_keys() {
    let c = gw(DNS).unwrap();
    let [s] = c.services.as_slice() else {
        panic!("{:?}", c.services)
    };
    assert_eq!(s.protocol, ferry_tunnel::Protocol::Udp);
    assert_eq!(s.max_flows.get(), DEFAULT_MAX_FLOWS);
    // Not the gateway's `timeouts.idle` (2 min here): the hop's UDP default.
    assert_eq!(s.flow_idle_timeout, Duration::from_secs(60));
    assert_eq!(s.limits.max_tunnels_per_client.get(), 7);
    let text = c.explain();
    assert!(
        text.contains(
            "service dns: udp bind=0.0.0.0:2222 agent=edge-1 destination=127.0.0.1:22 \
             allow_from=any max_flows=1024 max_flows_per_client=7"
        ) && text.contains("idle_timeout=1m")
            && text.contains("max_datagram=65507"),
        "{text}"
    );
    let c = gw(&format!(
        "{DNS}max_flows = 2\nidle_timeout = \"5s\"\nmax_connections_per_client = 1\n\
         client_rate = \"off\"\nallow_from = [\"10.0.0.0/8\"]\n"
    ))
    .unwrap();
    let s = &c.services[0];
    assert_eq!(s.max_flows.get(), 2);
    assert_eq!(s.flow_idle_timeout, Duration::from_secs(5));
    assert_eq!(s.limits.max_tunnels_per_client.get(), 1);
    assert_eq!(s.limits.client_rate, None);
    assert!(!s.admits("192.0.2.1".parse().unwrap()));
    // A TCP and a UDP service may share an address; two UDP services may not.
    let both = gw(&format!("{SSH}{DNS}")).unwrap();
    assert_eq!(both.services.len(), 2);
    let e = gw(&format!("{DNS}{}", DNS.replace("\"dns\"", "\"dns2\""))).unwrap_err();
    assert!(
        e.contains("service[1].bind") && e.contains("used by another service"),
        "{e}"
    );
}

#[test]
fn udp_refuses_what_only_a_byte_stream_can_do() {
    let with = |extra: &str| gw(&format!("{DNS}{extra}")).unwrap_err();
    let e = with("send_proxy = \"v2\"\n");
    assert!(
        e.contains("service[0].send_proxy") && e.contains("not available with protocol = \"udp\""),
        "{e}"
    );
    let e = with("accept_proxy = { trusted = [\"10.0.0.0/8\"] }\n");
    assert!(
        e.contains("service[0].accept_proxy") && e.contains("protocol = \"udp\""),
        "{e}"
    );
    let e = with("idle_timeout = \"off\"\n");
    assert!(
        e.contains("service[0].idle_timeout") && e.contains("\"off\" is not available"),
        "{e}"
    );
    let e = with("max_flows = 0\n");
    assert!(
        e.contains("service[0].max_flows") && e.contains("at least 1"),
        "{e}"
    );
    // `max_flows` is for UDP only.
    let e = gw(&format!("{SSH}max_flows = 5\n")).unwrap_err();
    assert!(
        e.contains("service[0].max_flows") && e.contains("only for protocol = \"udp\""),
        "{e}"
    );
    // The agents' QUIC socket is UDP: a UDP service cannot take it (a TCP one may).
    let e = gw(&DNS.replace("0.0.0.0:2222", "127.0.0.1:4433")).unwrap_err();
    assert!(
        e.contains("service[0].bind") && e.contains("`agent_listen`"),
        "{e}"
    );
    // The agents' TCP transport listens on agent_listen's address too (by default): a TCP
    // service cannot take it either, unless that listener is elsewhere or off.
    let e = gw(&SSH.replace("0.0.0.0:2222", "127.0.0.1:4433")).unwrap_err();
    assert!(
        e.contains("service[0].bind") && e.contains("agent_listen_tcp"),
        "{e}"
    );
    let e = GatewayConfig::from_toml(&format!(
        "listen = \"127.0.0.1:8080\"\nagent_listen = \"127.0.0.1:4433\"\n\
         agent_listen_tcp = \"off\"\nallow = [\"127.0.0.1:22\"]\n\
         [tls]\nself_signed = true\n[auth]\ntokens = \"tokens.txt\"\n{}",
        SSH.replace("0.0.0.0:2222", "127.0.0.1:4433")
    ));
    assert!(e.is_ok(), "{e:?}");
    // And the client front's TCP `listen` is free for a UDP service.
    assert!(gw(&DNS.replace("0.0.0.0:2222", "127.0.0.1:8080")).is_ok());
}
