//! Threaded echo destinations for the CLI tests (included through `#[path]`): the workspace's
//! own, from `ferry-test-support`.

#![allow(unused_imports)]

pub(crate) use ferry_test_support::blocking::{echo, echo_counting};
