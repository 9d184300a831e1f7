//! A log writer that keeps every formatted line in memory, for tests that install a global
//! subscriber and read back what the proxy logged.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// Every formatted log line, shared with the subscriber.
#[derive(Clone, Default)]
pub(crate) struct Captured(pub(crate) Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
