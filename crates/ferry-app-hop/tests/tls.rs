//! TLS between the access side and hop 1 and between hops: three TLS hops carry bytes exactly;
//! a plain client is refused by a TLS hop with nothing forwarded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use ferry_chain::Address;
use ferry_chain::client::{ClientConfig, connect};
use ferry_tls::{AcceptorConfig, ConnectorConfig, PemInput, SelfSigned, TlsAcceptor, TlsConnector};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

async fn tls_hop(n: u8, cert: &SelfSigned) -> HopHandle {
    let mut c = config(n);
    c.tls = Some(TlsAcceptor::new(&AcceptorConfig::new(cert.to_source())).unwrap());
    let mut cc = ConnectorConfig::new();
    cc.add_ca(PemInput::memory(
        "test ca",
        cert.cert_pem().as_bytes().to_vec(),
    ));
    c.next_hop_tls = Some(TlsConnector::new(&cc).unwrap());
    start_hop(c).await
}

#[tokio::test]
async fn three_tls_hops_carry_bytes_and_refuse_plain_clients() {
    let cert = SelfSigned::generate(["localhost", "127.0.0.1"]).unwrap();
    let hops = [
        tls_hop(1, &cert).await,
        tls_hop(2, &cert).await,
        tls_hop(3, &cert).await,
    ];
    let dest = echo_dest().await;
    let keys = key_file(3);
    let ca = std::env::temp_dir().join(format!("ferry-hop-tls-{}.pem", std::process::id()));
    std::fs::write(&ca, cert.cert_pem()).unwrap();
    let mut chain_text = chain_toml(
        "tls",
        1,
        &[(hops[0].addr, 1), (hops[1].addr, 2), (hops[2].addr, 3)],
    );
    chain_text.push_str(&format!("tls_ca = [{:?}]\n", ca.display().to_string()));
    let toml = format!(
        "[keys]\nfile = {:?}\n{chain_text}\n[[listener]]\nmode = \"tcp\"\nbind = \"127.0.0.1:0\"\ndestination = \"{}\"\n",
        keys.display().to_string(),
        dest.addr,
    );
    let a = start_access(&toml).await;
    for i in 0..3u8 {
        let mut s = TcpStream::connect(a.addrs[0]).await.unwrap();
        let sent = pattern(300_000, i);
        s.write_all(&sent).await.unwrap();
        s.shutdown().await.unwrap();
        let back = tokio::time::timeout(Duration::from_secs(20), read_all(&mut s))
            .await
            .unwrap();
        assert!(back == sent, "connection {i}");
    }
    assert_eq!(dest.count(), 3);
    let report = a.stop().await;
    assert_eq!(report.relayed, 3, "{report:?}");

    // A client without TLS gets nowhere: the hop's TLS handshake fails on the record bytes.
    let c = chain(&[
        (hops[0].addr, key(1)),
        (hops[1].addr, key(2)),
        (hops[2].addr, key(3)),
    ]);
    let err = connect(
        &c,
        &Address::try_from(dest.addr).unwrap(),
        &ClientConfig::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.hop(), Some(1), "{err}");
    assert_eq!(dest.count(), 3, "a plain client reached the destination");
    let _ = std::fs::remove_file(keys);
    let _ = std::fs::remove_file(ca);
}
