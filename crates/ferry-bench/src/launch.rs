//! How `compare` starts each proxy, so a proxy can be started again (a fresh process per
//! amount of work in `--callgrind` mode) and under a wrapper (valgrind).

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::peers::{Peer, TempDir, spawn};
use crate::{Target, free_port, wait_ready_within};

/// One proxy of a `compare` run.
#[derive(Clone, Debug)]
pub(crate) enum Launch {
    /// `COMMAND --listen ADDR --upstream ADDR` (ferry-proxy, the naive proxy).
    Args { name: String, command: Vec<String> },
    /// `COMMAND --config FILE`, FILE made from a template (`--proxy-config`).
    Config {
        name: String,
        template: PathBuf,
        command: Vec<String>,
    },
    /// HAProxy or nginx with a config written for the run.
    Peer(Peer),
}

/// A started proxy; the process is stopped before its directory is removed.
pub(crate) struct Running {
    pub(crate) target: Target,
    pub(crate) dir: TempDir,
}

impl Launch {
    /// The name in the tables.
    pub(crate) fn name(&self) -> &str {
        match self {
            Self::Args { name, .. } | Self::Config { name, .. } => name,
            Self::Peer(p) => p.name(),
        }
    }

    /// Starts the proxy in front of `upstreams` (`--proxy-config` uses both, every other only
    /// the first) with `threads` workers (`None`: each program's default, or for HAProxy and
    /// nginx the number of cores), prefixed by `wrapper`, and waits until it echoes (within
    /// `ready_within`).
    pub(crate) async fn start(
        &self,
        upstreams: [SocketAddr; 2],
        threads: Option<usize>,
        wrapper: &[String],
        ready_within: Duration,
    ) -> io::Result<Running> {
        let addr = free_port().await?;
        let dir = TempDir::new(self.name())?;
        let env: Vec<(String, String)> = threads
            .map(|n| ("TOKIO_WORKER_THREADS".to_owned(), n.to_string()))
            .into_iter()
            .collect();
        let command = match self {
            Self::Args { command, .. } => {
                let mut c = command.clone();
                c.extend([
                    "--listen".to_owned(),
                    addr.to_string(),
                    "--upstream".to_owned(),
                    upstreams[0].to_string(),
                ]);
                c
            }
            Self::Config {
                name,
                template,
                command,
            } => {
                let text = std::fs::read_to_string(template)
                    .map_err(|e| io::Error::other(format!("{}: {e}", template.display())))?
                    .replace("{listen}", &addr.to_string())
                    .replace("{upstream1}", &upstreams[0].to_string())
                    .replace("{upstream2}", &upstreams[1].to_string());
                let file = dir.0.join(format!("{name}.toml"));
                std::fs::write(&file, text)?;
                let mut c = command.clone();
                c.extend(["--config".to_owned(), file.display().to_string()]);
                c
            }
            Self::Peer(p) => {
                let cores = std::thread::available_parallelism().map_or(1, usize::from);
                p.command(&dir.0, addr, upstreams[0], threads.unwrap_or(cores))?
            }
        };
        let target = spawn(self.name(), addr, wrapper, &command, &env)?;
        let running = Running { target, dir };
        wait_ready_within(addr, ready_within).await?;
        Ok(running)
    }
}
