//! `socks5-server`: a SOCKS5 server (CONNECT) on tokio with `ferry-front`'s sans-IO
//! [`Socks5Server`]: the state machine parses what the client sent and writes the replies into
//! a buffer; this program only moves bytes, checks credentials, dials the target and relays
//! with `ferry-bridge`.
//!
//! ```text
//! cargo run --example socks5-server -- LISTEN_ADDR [--user NAME]
//! curl --socks5-hostname 127.0.0.1:1080 http://example.com/
//! ```
//!
//! With `--user NAME` clients must authenticate (RFC 1929) with that name and the password in
//! the environment variable `SOCKS5_PASSWORD` (never on the command line). Without it, anyone
//! who reaches the address may connect anywhere through it: keep it on loopback. UDP ASSOCIATE
//! and BIND are answered "command not supported". Exit status: 0 after ctrl-c, 2 for a usage
//! error or a bind failure.

use std::process::ExitCode;
use std::sync::Arc;

use ferry_bridge::{Bridge, Session};
use ferry_front::Address;
use ferry_front::socks5::{AuthMode, Command, ReplyCode, ServerEvent, Socks5Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const USAGE: &str = "usage: socks5-server LISTEN_ADDR [--user NAME]  (password: $SOCKS5_PASSWORD)";

/// The username and password clients must present.
pub(crate) struct UserPass {
    pub(crate) username: String,
    pub(crate) password: String,
}

impl UserPass {
    fn matches(&self, username: &str, password: &str) -> bool {
        // Constant time, so that timing does not tell how much of a guess was right.
        ferry_base::ct_eq(self.username.as_bytes(), username.as_bytes())
            & ferry_base::ct_eq(self.password.as_bytes(), password.as_bytes())
    }
}

/// Accepts on `listener` forever; each client in its own task.
pub(crate) async fn serve(listener: TcpListener, auth: Option<Arc<UserPass>>) {
    let bridge = Bridge::default();
    loop {
        let Ok((client, peer)) = listener.accept().await else {
            continue;
        };
        let (bridge, auth) = (bridge.clone(), auth.clone());
        tokio::spawn(async move {
            if let Err(why) = handle(client, auth.as_deref(), &bridge).await {
                eprintln!("{peer}: {why}");
            }
        });
    }
}

/// One client: the SOCKS5 exchange, then the relay. `Err` says why it ended early.
async fn handle(
    mut client: TcpStream,
    auth: Option<&UserPass>,
    bridge: &Bridge,
) -> Result<(), String> {
    let mode = if auth.is_some() {
        AuthMode::UsernamePassword
    } else {
        AuthMode::NoAuth
    };
    let mut server = Socks5Server::new(mode);
    let (mut buf, mut out) = (Vec::with_capacity(512), Vec::with_capacity(64));
    let request = loop {
        out.clear();
        let step = match server.receive(&buf, &mut out) {
            Ok(step) => step,
            Err(e) => {
                e.write_reply(&mut out); // the reply the protocol calls for, if any
                let _ = client.write_all(&out).await;
                return Err(format!("socks5: {e}"));
            }
        };
        buf.drain(..step.consumed);
        match step.event {
            Some(ServerEvent::Authenticate(c)) => {
                let ok = auth.is_some_and(|a| a.matches(&c.username, &c.password));
                server
                    .accept_credentials(ok, &mut out)
                    .map_err(|e| e.to_string())?;
                client.write_all(&out).await.map_err(|e| e.to_string())?;
                if !ok {
                    return Err(format!("wrong credentials for {:?}", c.username));
                }
                continue;
            }
            Some(ServerEvent::Request(request)) => {
                client.write_all(&out).await.map_err(|e| e.to_string())?;
                break request;
            }
            _ => {}
        }
        client.write_all(&out).await.map_err(|e| e.to_string())?;
        // More bytes are needed; a SOCKS5 message is at most 513 bytes.
        if buf.len() > 1024 {
            return Err("socks5: message too long".into());
        }
        let mut chunk = [0u8; 1024];
        match client.read(&mut chunk).await {
            Ok(0) | Err(_) => return Err("closed during the handshake".into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    // `buf` now holds what the client sent after its request (already tunnel data).
    out.clear();
    let unspecified = Address::Ip(([0, 0, 0, 0], 0).into());
    if request.command != Command::Connect {
        server
            .reply(ReplyCode::COMMAND_NOT_SUPPORTED, &unspecified, &mut out)
            .map_err(|e| e.to_string())?;
        let _ = client.write_all(&out).await;
        return Err(format!("{:?} is not supported", request.command));
    }
    let dialed = match &request.target {
        Address::Ip(addr) => TcpStream::connect(addr).await,
        Address::Domain(name, port) => TcpStream::connect((name.as_str(), *port)).await,
        _ => return Err("unknown address type".into()),
    };
    let mut upstream = match dialed {
        Ok(upstream) => upstream,
        Err(e) => {
            let code = match e.kind() {
                std::io::ErrorKind::ConnectionRefused => ReplyCode::CONNECTION_REFUSED,
                std::io::ErrorKind::TimedOut => ReplyCode::TTL_EXPIRED,
                _ => ReplyCode::HOST_UNREACHABLE,
            };
            server
                .reply(code, &unspecified, &mut out)
                .map_err(|e| e.to_string())?;
            let _ = client.write_all(&out).await;
            return Err(format!("connect {}: {e}", request.target));
        }
    };
    let bound = upstream.local_addr().map_err(|e| e.to_string())?;
    server
        .reply(ReplyCode::SUCCEEDED, &Address::Ip(bound), &mut out)
        .map_err(|e| e.to_string())?;
    client.write_all(&out).await.map_err(|e| e.to_string())?;
    upstream.write_all(&buf).await.map_err(|e| e.to_string())?;
    // Both directions, half-close aware, splice(2) on Linux.
    let outcome = bridge.run_tcp(client, upstream, Session::new()).await;
    eprintln!(
        "{}: {} bytes up, {} down, end: {}",
        request.target,
        outcome.a_to_b,
        outcome.b_to_a,
        outcome.end.label()
    );
    Ok(())
}

fn parse(args: &[String]) -> Result<(String, Option<UserPass>), String> {
    match args {
        [listen] => Ok((listen.clone(), None)),
        [listen, flag, username] if flag == "--user" => {
            let password = std::env::var("SOCKS5_PASSWORD")
                .map_err(|e| format!("--user needs $SOCKS5_PASSWORD: {e}"))?;
            let user = UserPass {
                username: username.clone(),
                password,
            };
            Ok((listen.clone(), Some(user)))
        }
        _ => Err(USAGE.into()),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (listen, auth) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(msg) => {
            eprintln!("socks5-server: {msg}");
            return ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind(&listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("socks5-server: cannot listen on {listen}: {e}");
            return ExitCode::from(2);
        }
    };
    tokio::select! {
        () = serve(listener, auth.map(Arc::new)) => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    ExitCode::SUCCESS
}
