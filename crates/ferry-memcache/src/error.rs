//! Errors: key validation, response decoding, and client operations.

use std::io;

/// A key memcached would not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key is empty.
    #[error("key is empty")]
    Empty,
    /// The key is longer than [`MAX_KEY_LEN`](crate::MAX_KEY_LEN).
    #[error("key is {len} bytes, longer than 250")]
    TooLong {
        /// The key's length in bytes.
        len: usize,
    },
    /// The key has a space, a control character or a non-ASCII byte.
    #[error("key has a space, control or non-ASCII byte at {at}")]
    InvalidByte {
        /// Byte offset of the first offending byte.
        at: usize,
    },
}

/// The server's bytes are not a meta-protocol response this client understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A response line is longer than [`MAX_LINE`](crate::codec::MAX_LINE) without its `\r\n`.
    #[error("response line longer than the limit")]
    LineTooLong,
    /// A value is larger than the configured maximum.
    #[error("value of {size} bytes exceeds the limit of {limit}")]
    ValueTooLarge {
        /// The size the server announced.
        size: u64,
        /// The configured limit.
        limit: usize,
    },
    /// The line does not start with a known response code, or its fields are malformed.
    #[error("malformed response line")]
    Malformed,
    /// A value block is not followed by `\r\n`.
    #[error("value block not terminated by CRLF")]
    Unterminated,
    /// The server answered `ERROR`, `CLIENT_ERROR ...` or `SERVER_ERROR ...`.
    #[error("server reported {kind}: {message}")]
    Server {
        /// `ERROR`, `CLIENT_ERROR` or `SERVER_ERROR`.
        kind: &'static str,
        /// The rest of the line (lossy UTF-8, at most one line).
        message: String,
    },
    /// The response code is valid but not one this command can produce.
    #[error("unexpected response {code} to {command}")]
    Unexpected {
        /// The response code received (`HD`, `VA`, ...).
        code: &'static str,
        /// The command sent (`mg`, `ms`, ...).
        command: &'static str,
    },
}

/// A client operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Connecting to the server failed.
    #[error("cannot connect to memcached")]
    Connect(#[source] io::Error),
    /// The server's host name could not be resolved, or resolved to no address
    /// ([`Client::resolving`](crate::Client::resolving)).
    #[error("cannot resolve the memcached host name")]
    Resolve(#[source] io::Error),
    /// Reading from or writing to the server failed, or it closed the connection mid-response.
    #[error("i/o with memcached failed")]
    Io(#[source] io::Error),
    /// The operation (waiting for a connection, connecting, sending and reading the response)
    /// did not finish within [`ClientConfig::op_timeout`](crate::ClientConfig::op_timeout).
    #[error("memcached did not answer within the operation timeout")]
    Timeout,
    /// The server's answer could not be understood, or was an error.
    #[error("memcached answered with an unusable response")]
    Protocol(#[from] ProtocolError),
    /// The value to store is larger than [`ClientConfig::max_value_size`](crate::ClientConfig::max_value_size).
    #[error("value of {size} bytes exceeds the limit of {limit}")]
    ValueTooLarge {
        /// The value's size.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
}
