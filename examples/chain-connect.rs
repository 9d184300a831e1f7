//! `chain-connect`: opens a TCP connection through a chain of `ferry-hop` hops and joins it to
//! stdin/stdout (like `nc`).
//!
//! ```text
//! chain-connect (--key-file FILE | --key-env VAR) --hop ADDR=KEY_ID [--hop ADDR=KEY_ID ...] DESTINATION
//! ```
//!
//! Hops are given in order (hop 1 first); `KEY_ID` picks the key shared with that hop from the
//! key file or variable (format: `docs/wire/chain-header.md`, "Key files"). Keys are never taken
//! on the command line. `DESTINATION` is `host:port` or `[v6]:port`.
//!
//! Exit status: 0 when both directions finished, 1 when a hop failed (the message names it and
//! its status), 2 for a usage, key or address error.

use std::process::ExitCode;

use ferry_app_core::error::error_line;
use ferry_chain::client::{ClientConfig, connect};
use ferry_chain::{Address, Chain, ChainHop, KeyId, Keyring};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

const USAGE: &str = "\
usage: chain-connect (--key-file FILE | --key-env VAR) --hop ADDR=KEY_ID [--hop ...] DESTINATION

  --key-file FILE  key file: `KEY_ID HEX` entries (newline or comma separated, # comments)
  --key-env VAR    the same text from an environment variable
  --hop ADDR=ID    next hop in order (hop 1 first) and the id of the key shared with it
  DESTINATION      host:port or [v6]:port, dialed by the last hop

exit status: 0 done, 1 chain or connection failure, 2 usage, key or address error";

enum KeySource {
    File(String),
    Env(String),
}

struct Args {
    keys: KeySource,
    hops: Vec<(String, String)>,
    destination: String,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut keys = None;
    let mut hops = Vec::new();
    let mut destination = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--key-file" | "--key-env" => {
                let value = args.next().ok_or(format!("{arg} needs a value"))?;
                if keys.is_some() {
                    return Err("give one of --key-file and --key-env, once".into());
                }
                keys = Some(if arg == "--key-file" {
                    KeySource::File(value)
                } else {
                    KeySource::Env(value)
                });
            }
            "--hop" => {
                let value = args.next().ok_or("--hop needs ADDR=KEY_ID")?;
                let (addr, id) = value
                    .rsplit_once('=')
                    .ok_or(format!("--hop `{value}`: expected ADDR=KEY_ID"))?;
                hops.push((addr.to_owned(), id.to_owned()));
            }
            flag if flag.starts_with('-') => return Err(format!("unknown flag `{flag}`")),
            _ if destination.is_none() => destination = Some(arg),
            _ => return Err(format!("unexpected argument `{arg}`")),
        }
    }
    Ok(Some(Args {
        keys: keys.ok_or("--key-file or --key-env is required")?,
        hops,
        destination: destination.ok_or("DESTINATION is required")?,
    }))
}

fn build(args: &Args) -> Result<(Chain, Address), String> {
    let text = match &args.keys {
        KeySource::File(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read key file {path}: {e}"))?,
        KeySource::Env(var) => {
            std::env::var(var).map_err(|e| format!("cannot read key variable {var}: {e}"))?
        }
    };
    let keyring = Keyring::parse(&text).map_err(|e| format!("invalid keys: {e}"))?;
    let mut hops = Vec::new();
    for (addr, id) in &args.hops {
        let address: Address = addr
            .parse()
            .map_err(|e| format!("invalid hop address `{addr}`: {e}"))?;
        let id: u16 = id
            .parse()
            .map_err(|e| format!("invalid key id `{id}`: {e}"))?;
        let key = keyring
            .get(KeyId(id))
            .ok_or(format!("no key with id {id}"))?
            .clone();
        hops.push(ChainHop { address, key });
    }
    let chain = Chain::new(hops).map_err(|e| e.to_string())?;
    let destination = args
        .destination
        .parse()
        .map_err(|e| format!("invalid destination `{}`: {e}", args.destination))?;
    Ok((chain, destination))
}

#[tokio::main]
async fn main() -> ExitCode {
    let code = run(
        std::env::args().skip(1),
        tokio::io::stdin(),
        tokio::io::stdout(),
    )
    .await;
    ExitCode::from(code)
}

/// The whole program: `args` without the program name; what `input` holds goes through the
/// chain, what comes back goes to `output`; returns the exit status. (A function, so that
/// `examples/tests/chain_connect.rs` runs the example's own code.)
pub(crate) async fn run(
    args: impl Iterator<Item = String>,
    mut input: impl AsyncRead + Unpin,
    mut output: impl AsyncWrite + Unpin,
) -> u8 {
    let args = match parse_args(args) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return 0;
        }
        Err(msg) => return usage_error(&msg),
    };
    let (chain, destination) = match build(&args) {
        Ok(v) => v,
        Err(msg) => return usage_error(&msg),
    };
    let stream = match connect(&chain, &destination, &ClientConfig::default()).await {
        Ok(stream) => stream,
        Err(e) => {
            eprintln!("chain-connect: {}", error_line(&e));
            return 1;
        }
    };
    let (mut from_chain, mut to_chain) = tokio::io::split(stream);
    let upload = async {
        tokio::io::copy(&mut input, &mut to_chain).await?;
        to_chain.shutdown().await
    };
    let download = async {
        tokio::io::copy(&mut from_chain, &mut output).await?;
        output.flush().await
    };
    match tokio::try_join!(upload, download) {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("chain-connect: relay failed: {e}");
            1
        }
    }
}

fn usage_error(msg: &str) -> u8 {
    eprintln!("chain-connect: {msg}\n\n{USAGE}");
    2
}
