//! The first test: `curl -x http://AGENT:TOKEN@127.0.0.1:PORT` reaching a local HTTP
//! server through the gateway and the agent.

use std::process::Stdio;

use tokio::process::Command;

use crate::harness::{CLIENT_TOKEN, Files, gateway_and_agent, http_server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_reaches_a_local_http_server_through_gateway_and_agent() {
    let files = Files::new(1);
    let (gw, agent) = gateway_and_agent(&files, "").await;
    let http = http_server().await;
    let proxy = format!("http://edge-0:{CLIENT_TOKEN}@{}", gw.client);
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-p", "-x", &proxy])
        .arg(format!("http://{http}/"))
        .stdin(Stdio::null())
        .output()
        .await
        .expect("curl must be installed (apt-get install curl)");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello");
    agent.stop().await;
    gw.stop().await;
}
