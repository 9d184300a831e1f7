//! `compare --callgrind`: user-space instructions per unit of work, counted by running each
//! proxy under `valgrind --tool=callgrind --trace-children=yes` for two amounts of work and
//! dividing the difference in instructions by the difference in work. Start-up, the readiness
//! probe and shutdown are the same in both runs and cancel out. Instruction counts move far
//! less with the machine's load than timed figures.
//!
//! | work | small | large | unit |
//! |---|---|---|---|
//! | connections, one after another, each with one 64-byte echo | `--cg-conns` | 4x + 100 | connection |
//! | 64-byte requests and responses on one connection | `--cg-requests` | 5x | request/response |
//! | bulk upload on one connection (sink mode) | `--cg-mib` MiB | 4x | MiB |

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::launch::Launch;
use crate::{load, stop};

/// The amounts of work (the smaller of each pair).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Amounts {
    pub(crate) conns: u64,
    pub(crate) requests: u64,
    pub(crate) mib: u64,
}

#[derive(Clone, Copy, Debug)]
enum Work {
    Connections,
    Requests,
    Bulk,
}

impl Work {
    const ALL: [Self; 3] = [Self::Connections, Self::Requests, Self::Bulk];

    fn label(self) -> &'static str {
        match self {
            Self::Connections => "instructions per connection (64 B echo each)",
            Self::Requests => "instructions per 64 B request/response (1 connection)",
            Self::Bulk => "instructions per MiB, bulk 1 stream",
        }
    }

    fn amounts(self, a: Amounts) -> (u64, u64) {
        match self {
            Self::Connections => (a.conns, a.conns * 4 + 100),
            Self::Requests => (a.requests, a.requests * 5),
            Self::Bulk => (a.mib, a.mib * 4),
        }
    }

    async fn run(self, addr: SocketAddr, n: u64) -> io::Result<()> {
        match self {
            Self::Connections => {
                for _ in 0..n {
                    let mut s = TcpStream::connect(addr).await?;
                    s.set_nodelay(true)?;
                    echo(&mut s, 1).await?;
                    close(s).await?;
                }
                Ok(())
            }
            Self::Requests => {
                let mut s = TcpStream::connect(addr).await?;
                s.set_nodelay(true)?;
                echo(&mut s, n).await?;
                close(s).await
            }
            Self::Bulk => load::bulk(addr, 1, n << 20).await.map(drop),
        }
    }
}

/// Echo mode, then `n` rounds of 64 bytes out and 64 bytes back.
pub(crate) async fn echo(s: &mut TcpStream, n: u64) -> io::Result<()> {
    let mut msg = [0x42u8; 65];
    msg[0] = b'E';
    s.write_all(&msg).await?;
    let mut back = [0u8; 64];
    s.read_exact(&mut back).await?;
    for _ in 1..n {
        s.write_all(&msg[1..]).await?;
        s.read_exact(&mut back).await?;
    }
    Ok(())
}

/// Half-closes and waits for the proxy's FIN, so every connection has ended before the next.
pub(crate) async fn close(mut s: TcpStream) -> io::Result<()> {
    s.shutdown().await?;
    let mut b = [0u8; 1];
    while s.read(&mut b).await? > 0 {}
    Ok(())
}

/// valgrind's arguments to count with callgrind into `dir`: one output file and one log per
/// process (`callgrind.out.PID`, `valgrind.PID.log`), which [`instructions`] reads.
pub(crate) fn args(dir: &Path) -> [String; 3] {
    [
        "--tool=callgrind".to_owned(),
        format!("--callgrind-out-file={}/callgrind.out.%p", dir.display()),
        format!("--log-file={}/valgrind.%p.log", dir.display()),
    ]
}

/// With `--cg-keep DIR` (`keep`): moves the output directory `out` to `DIR/name`, replacing
/// what a former run left there, for `callgrind_annotate`.
pub(crate) fn keep_as(out: &Path, keep: Option<&Path>, name: &str) -> io::Result<()> {
    if let Some(keep) = keep {
        let to = keep.join(name);
        let _ = std::fs::remove_dir_all(&to);
        std::fs::create_dir_all(keep)?;
        std::fs::rename(out, &to)?;
    }
    Ok(())
}

/// The sum of `summary:` (or `totals:`) over every callgrind output file in `dir`: one file
/// per process (nginx's master and worker, for instance).
pub(crate) fn instructions(dir: &Path) -> io::Result<u64> {
    let mut total = 0;
    let mut files = 0;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("callgrind.out"))
        {
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
        let summary = text.lines().find_map(|l| l.strip_prefix("summary:"));
        let totals = text.lines().find_map(|l| l.strip_prefix("totals:"));
        let n = summary
            .or(totals)
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .ok_or_else(|| io::Error::other(format!("{}: no summary line", path.display())))?;
        total += n;
        files += 1;
    }
    if files == 0 {
        return Err(io::Error::other(format!(
            "no callgrind output in {} (did the proxy exit on SIGTERM?)",
            dir.display()
        )));
    }
    Ok(total)
}

/// Runs `work` × `n` through `launch` under callgrind; returns the instructions counted.
async fn count(
    launch: &Launch,
    upstreams: [SocketAddr; 2],
    threads: Option<usize>,
    work: Work,
    n: u64,
    keep: Option<&Path>,
) -> io::Result<u64> {
    let out = crate::peers::TempDir::new("callgrind")?;
    // nginx's workers run as `nobody` when started by root, and write their own files.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&out.0, std::fs::Permissions::from_mode(0o1777))?;
    }
    let mut wrapper = vec!["valgrind".to_owned(), "--trace-children=yes".to_owned()];
    wrapper.extend(args(&out.0));
    let mut running = launch
        .start(upstreams, threads, &wrapper, Duration::from_secs(120))
        .await?;
    work.run(running.target.addr, n).await?;
    stop(&mut running.target, Duration::from_secs(120)).await?;
    drop(running);
    let total = instructions(&out.0)?;
    keep_as(&out.0, keep, &format!("{}-{work:?}-{n}", launch.name()))?;
    Ok(total)
}

/// Prints the table of instructions per unit of work for every proxy in `launches`.
pub(crate) async fn run(
    launches: &[Launch],
    upstreams: [SocketAddr; 2],
    threads: Option<usize>,
    amounts: Amounts,
    keep: Option<&Path>,
    only: &[String],
) -> io::Result<()> {
    let mut rows = Vec::new();
    let launches: Vec<&Launch> = launches
        .iter()
        .filter(|l| only.is_empty() || only.iter().any(|o| o == l.name()))
        .collect();
    for work in Work::ALL {
        let (small, large) = work.amounts(amounts);
        let mut cells = Vec::new();
        for l in &launches {
            eprintln!("callgrind: {} {work:?} {small} and {large}", l.name());
            let a = count(l, upstreams, threads, work, small, keep).await?;
            let b = count(l, upstreams, threads, work, large, keep).await?;
            let per = (b as f64 - a as f64) / (large - small) as f64;
            eprintln!("  {a} and {b} instructions: {per:.0} per unit");
            cells.push(per);
        }
        rows.push((work, small, large, cells));
    }
    let names: Vec<&str> = launches.iter().map(|l| l.name()).collect();
    println!(
        "\nuser-space instructions per unit of work (callgrind; difference between two runs)\n"
    );
    println!("| work | runs | {} |", names.join(" | "));
    println!("|---|---|{}", "---|".repeat(names.len()));
    for (work, small, large, cells) in rows {
        let cells: Vec<String> = cells.iter().map(|v| format!("{v:.0}")).collect();
        println!(
            "| {} | {small} and {large} | {} |",
            work.label(),
            cells.join(" | ")
        );
    }
    Ok(())
}
