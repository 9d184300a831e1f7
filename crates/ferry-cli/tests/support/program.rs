//! A program under test run as a child process, its stderr read line by line (shared by the
//! CLI tests through `#[path]`): the workspace's one process harness, in `ferry-test-support`.

#![allow(unused_imports)]

pub(crate) use ferry_test_support::process::{Program, stderr_lines, wait_child};
