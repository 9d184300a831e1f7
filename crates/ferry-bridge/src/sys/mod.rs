//! Platform-specific parts: the `splice(2)` fast path on Linux, nothing elsewhere.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
mod pipe_pool;
#[cfg(target_os = "linux")]
pub(crate) use linux::run_spliced;
#[cfg(target_os = "linux")]
pub(crate) use pipe_pool::PipePool;

#[cfg(not(target_os = "linux"))]
mod fallback;
#[cfg(not(target_os = "linux"))]
pub(crate) use fallback::PipePool;
