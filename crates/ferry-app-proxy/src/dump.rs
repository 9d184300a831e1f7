//! Payload dump: the bridge hook hands copies of the relayed chunks to a writer task through a
//! bounded channel (full: the chunk is dropped and counted, the relay never waits for the
//! disk); the task writes one file per direction, each capped at `max_bytes`.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use ferry_bridge::Direction;
use tokio::fs::File;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::DumpConfig;

/// The relay's end of a dump.
pub(crate) struct DumpSink {
    tx: mpsc::Sender<(Direction, Bytes)>,
    dropped: metrics::Counter,
}

impl DumpSink {
    /// Queues a copy of `chunk`, or drops and counts it when the writer is behind.
    pub(crate) fn push(&self, dir: Direction, chunk: &[u8]) {
        if chunk.is_empty() {
            return;
        }
        if self
            .tx
            .try_send((dir, Bytes::copy_from_slice(chunk)))
            .is_err()
        {
            self.dropped.increment(1);
            tracing::debug!(target: "ferry::dump", len = chunk.len(), "dump queue full: chunk dropped");
        }
    }
}

/// The file stem for a connection from `peer` at `unix_secs`:
/// `20261123T030405Z-127.0.0.1_5555` (`:` in IPv6 addresses becomes `-`).
pub(crate) fn stem(unix_secs: u64, peer: SocketAddr) -> String {
    let ip = peer.ip().to_canonical().to_string().replace(':', "-");
    format!(
        "{}-{ip}_{}",
        crate::clock::compact_utc(unix_secs),
        peer.port()
    )
}

/// Starts the writer task of one connection; the task ends (files flushed) once the sink is
/// dropped and the queue is written.
pub(crate) fn start(
    config: &DumpConfig,
    listener: &str,
    peer: SocketAddr,
    unix_secs: u64,
) -> (DumpSink, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(config.queue.get());
    let dropped =
        metrics::counter!("ferry_proxy_dump_dropped_total", "listener" => listener.to_owned());
    let task = tokio::spawn(write_files(
        config.dir.clone(),
        stem(unix_secs, peer),
        config.max_bytes.get(),
        rx,
    ));
    (DumpSink { tx, dropped }, task)
}

/// Creates `dir/stem-suffix.bin`, or `dir/stem-N-suffix.bin` when it exists.
async fn create(dir: &Path, stem: &str, suffix: &str) -> io::Result<(File, PathBuf)> {
    let mut n = 1u32;
    loop {
        let name = if n == 1 {
            format!("{stem}-{suffix}.bin")
        } else {
            format!("{stem}-{n}-{suffix}.bin")
        };
        let path = dir.join(name);
        match tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
        {
            Ok(f) => return Ok((f, path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
            Err(e) => return Err(e),
        }
    }
}

struct Sink {
    file: Option<File>,
    path: PathBuf,
    written: u64,
}

async fn write_files(
    dir: PathBuf,
    stem: String,
    max_bytes: u64,
    mut rx: mpsc::Receiver<(Direction, Bytes)>,
) {
    let open = |suffix: &'static str| {
        let dir = dir.clone();
        let stem = stem.clone();
        async move {
            match create(&dir, &stem, suffix).await {
                Ok((file, path)) => Sink {
                    file: Some(file),
                    path,
                    written: 0,
                },
                Err(error) => {
                    tracing::warn!(target: "ferry::dump", dir = %dir.display(), %error, "cannot create dump file");
                    Sink {
                        file: None,
                        path: dir.join(format!("{stem}-{suffix}.bin")),
                        written: 0,
                    }
                }
            }
        }
    };
    let mut c2u = open("c2u").await;
    let mut u2c = open("u2c").await;
    while let Some((dir, chunk)) = rx.recv().await {
        let sink = match dir {
            Direction::AToB => &mut c2u,
            Direction::BToA => &mut u2c,
        };
        let room = usize::try_from(max_bytes.saturating_sub(sink.written)).unwrap_or(usize::MAX);
        let part = chunk.get(..chunk.len().min(room)).unwrap_or_default();
        if let Some(file) = &mut sink.file
            && !part.is_empty()
        {
            if let Err(error) = file.write_all(part).await {
                tracing::warn!(target: "ferry::dump", path = %sink.path.display(), %error, "dump write failed; file abandoned");
                sink.file = None;
            }
            sink.written += u64::try_from(part.len()).unwrap_or(u64::MAX);
        }
    }
    for sink in [&mut c2u, &mut u2c] {
        if let Some(file) = &mut sink.file {
            let _ = file.flush().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_name_time_and_peer() {
        assert_eq!(
            stem(1_795_403_045, "127.0.0.1:5555".parse().unwrap()),
            "20261123T030405Z-127.0.0.1_5555"
        );
        assert_eq!(
            stem(0, "[::1]:80".parse().unwrap()),
            "19700101T000000Z---1_80"
        );
    }
}
