//! `accept_proxy` of a listener: which peers may send a PROXY protocol header, in which
//! versions, within what deadline. The model, its validation and the header reader live in
//! `ferry_app_core::proxy_protocol`, shared with the gateway.

pub use ferry_app_core::proxy_protocol::{AcceptProxy, DEFAULT_PROXY_HEADER_TIMEOUT};
