//! Hostile JWTs: each attack is refused with the error that names it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod claims;
mod fixture;
mod front;
mod header;
