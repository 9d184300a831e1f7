//! ferry-egress against real proxies (tinyproxy, danted, microsocks), hostile fake proxies,
//! property tests of the parsers, and the fuzz corpus.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod corpus;
mod hostile;
mod parse;
mod real;
