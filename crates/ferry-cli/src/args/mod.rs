//! The four programs' command lines, as data: each module holds a program's `Args` (parsed by
//! its binary) and `command()`, the `clap::Command` the man pages and shell completions are
//! generated from (`ferry-gen`), so they never drift from what the programs accept.
//!
//! Naming, the same in every program:
//!
//! - `--tls-cert PEM` / `--tls-key PEM`: the certificate the program presents;
//!   `--tls-ca PEM`: the CA file(s) it verifies the servers it connects to against.
//! - `--X-file FILE` / `--X-env VAR`: a secret read from a file or a named environment variable
//!   (never a flag's value): `--key-file`, `--token-file`.
//! - `--agent-id ID`: an agent id, wherever one is named.
//! - Environment: `FERRY_<PROGRAM>_<FLAG>` (e.g. `FERRY_PROXY_CONFIG`,
//!   `FERRY_HOP_SERVE_CONFIG`, `FERRY_GATEWAY_METRICS`), and `FERRY_LOG`, `FERRY_LOG_FORMAT` for
//!   every program. A flag on the command line wins over its variable.
//!
//! Old spellings stay accepted as hidden aliases (see [`ALIASES`]).

pub mod agent;
pub mod gateway;
pub mod hop;
pub mod proxy;

use std::path::PathBuf;

/// `explain --config FILE HOST:PORT`, the same in every program that checks destinations.
#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    /// The config file whose allowlist decides.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The destination, `HOST:PORT` or `[IPv6]:PORT`.
    #[arg(value_name = "HOST:PORT")]
    pub destination: String,
}

/// Shared logging flags' environment variables.
pub const ENV_LOG: &str = "FERRY_LOG";
/// See [`ENV_LOG`].
pub const ENV_LOG_FORMAT: &str = "FERRY_LOG_FORMAT";

/// Renamed flags: `(program, old spelling, new spelling)`. The old ones still work (hidden
/// aliases).
pub const ALIASES: &[(&str, &str, &str)] = &[
    ("ferry-agent", "--ca", "--tls-ca"),
    ("ferry-agent", "--id", "--agent-id"),
    ("ferry-hop serve", "--next-hop-tls-ca", "--tls-ca"),
    ("ferry-gateway", "--tokens", "--token-file"),
    ("ferry-gateway token new", "--tokens", "--token-file"),
    ("ferry-gateway token new", "--agent", "--agent-id"),
    ("ferry-gateway jwt sign", "--agent", "--agent-id"),
];

/// Every program's name and command, in the order they are documented.
#[must_use]
pub fn all() -> Vec<(&'static str, clap::Command)> {
    vec![
        (proxy::PROGRAM, proxy::command()),
        (hop::PROGRAM, hop::command()),
        (gateway::PROGRAM, gateway::command()),
        (agent::PROGRAM, agent::command()),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// Every renamed flag has its new spelling shown and its old one as a hidden alias.
    #[test]
    fn every_old_spelling_is_an_alias_of_the_new_flag() {
        for (program, old, new) in ALIASES {
            let mut words = program.split(' ');
            let name = words.next().unwrap();
            let mut cmd = all().into_iter().find(|(n, _)| *n == name).unwrap().1;
            for sub in words {
                cmd = cmd.find_subcommand(sub).unwrap().clone();
            }
            let arg = cmd
                .get_arguments()
                .find(|a| a.get_long() == Some(new.trim_start_matches("--")))
                .unwrap_or_else(|| panic!("{program} has no {new}"));
            let aliases = arg.get_all_aliases().unwrap_or_default();
            assert!(
                aliases.contains(&old.trim_start_matches("--")),
                "{program} {new}: {aliases:?}"
            );
            assert!(
                arg.get_visible_aliases().is_none_or(|v| v.is_empty()),
                "{program} {new}"
            );
        }
    }
}
