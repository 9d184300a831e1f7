//! Validated payload dump settings of a listener (`[listener.dump]`).

use std::num::{NonZeroU64, NonZeroUsize};
use std::path::PathBuf;

/// Default cap on the bytes written to one dump file: 16 MiB (later bytes are counted, not
/// written).
pub const DEFAULT_DUMP_MAX_BYTES: NonZeroU64 = NonZeroU64::new(16 << 20).unwrap();
/// Default number of chunks that may wait for the dump writer of one connection: 64 (more are
/// dropped and counted, so the relay never waits for the disk).
pub const DEFAULT_DUMP_QUEUE: NonZeroUsize = NonZeroUsize::new(64).unwrap();

/// Payload dump of a listener: every connection writes two files into `dir`,
/// `<UTC time>-<client ip>_<port>-c2u.bin` (bytes from the client) and `…-u2c.bin` (bytes to
/// the client), e.g. `20261123T030405Z-127.0.0.1_5555-c2u.bin` (`:` of IPv6 addresses
/// becomes `-`). Dumping forces the copy path (no splice).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DumpConfig {
    /// Directory the files go to; it must exist when the proxy starts.
    pub dir: PathBuf,
    /// Also log every chunk as hex at trace level (target `ferry::dump`). Default `false`.
    pub hex_trace: bool,
    /// Bytes written at most per file. Default [`DEFAULT_DUMP_MAX_BYTES`].
    pub max_bytes: NonZeroU64,
    /// Chunks queued per connection before new ones are dropped. Default
    /// [`DEFAULT_DUMP_QUEUE`].
    pub queue: NonZeroUsize,
}

impl DumpConfig {
    /// Dump into `dir` with the defaults.
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            hex_trace: false,
            max_bytes: DEFAULT_DUMP_MAX_BYTES,
            queue: DEFAULT_DUMP_QUEUE,
        }
    }
}
