//! Name resolution behind a trait, so tests (and callers with their own resolver) can inject
//! answers: `ferry_base::resolve`'s, re-exported. The pool removes duplicates from an answer and
//! sorts it; a failed answer keeps the previous addresses and logs.

pub use ferry_base::resolve::{ResolveFuture, Resolver, SystemResolver};
