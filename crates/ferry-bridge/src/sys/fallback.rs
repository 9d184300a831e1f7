//! Platforms without `splice(2)`: no pipes, every session takes the copy path.

use crate::BridgeStats;

/// Stand-in for the Linux pipe pool: holds nothing.
#[derive(Debug)]
pub(crate) struct PipePool;

impl PipePool {
    pub(crate) fn new(_max_pipes: usize) -> Self {
        Self
    }

    pub(crate) fn fill_stats(&self, _stats: &mut BridgeStats) {}
}
