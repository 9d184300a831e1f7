//! HTTP CONNECT through the proxy, with ferry-front's request writer and reply parser.

use ferry_base::io::Prefixed;
use ferry_front::Address;
use ferry_front::http_connect::{
    BasicCredentials, ConnectResponse, HttpError, HttpLimits, parse_response, write_connect_request,
};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::connect::{receive, send};
use crate::error::Offered;
use crate::{ConnectConfig, EgressError, EgressProxy};

/// Longest reason phrase or scheme kept for a message.
const MAX_ECHO: usize = 64;

pub(crate) async fn handshake<S>(
    io: &mut Prefixed<S>,
    proxy: &EgressProxy,
    target: &Address,
    config: &ConnectConfig,
) -> Result<(), EgressError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let invalid = || EgressError::InvalidTarget {
        proxy: proxy.url_without_credentials(),
        target: target.to_string(),
    };
    let creds = match proxy.credentials() {
        // Checked when the credentials were set.
        Some(c) => Some(
            BasicCredentials::new(c.username(), c.password())
                .ok()
                .ok_or_else(invalid)?,
        ),
        None => None,
    };
    let mut request = Vec::with_capacity(256);
    write_connect_request(&mut request, target, creds.as_ref(), &[])
        .ok()
        .ok_or_else(invalid)?;
    send(io, &request, proxy).await?;

    let limits = HttpLimits::default().with_max_head(config.max_head);
    let reply: ConnectResponse = receive(
        io,
        config.max_head,
        proxy,
        |b| parse_response(b, &limits),
        |source| match source {
            HttpError::HeadTooLarge { max } => EgressError::HeadTooLarge {
                proxy: proxy.url_without_credentials(),
                max,
            },
            source => EgressError::NotHttp {
                proxy: proxy.url_without_credentials(),
                source,
            },
        },
    )
    .await?;
    match reply.status {
        200..=299 => Ok(()),
        // 401 is not the destination's (the tunnel is not open): some proxies answer it
        // instead of 407 (tinyproxy does to wrong credentials).
        status @ (401 | 407) => {
            let offered = Offered(
                reply
                    .header("proxy-authenticate")
                    .or_else(|| reply.header("www-authenticate"))
                    .map(scheme),
            );
            Err(match proxy.credentials() {
                None => EgressError::AuthRequired {
                    proxy: proxy.url_without_credentials(),
                    status,
                    offered,
                },
                Some(c) => EgressError::AuthRejected {
                    proxy: proxy.url_without_credentials(),
                    status,
                    username: c.username().to_owned(),
                    offered,
                },
            })
        }
        status => Err(EgressError::Refused {
            proxy: proxy.url_without_credentials(),
            target: target.to_string(),
            status,
            reason: printable(reply.reason.as_bytes()),
        }),
    }
}

/// The scheme (first token) of a `Proxy-Authenticate` value.
fn scheme(value: &[u8]) -> String {
    let token = value
        .trim_ascii()
        .split(|b| b.is_ascii_whitespace())
        .next()
        .unwrap_or_default();
    printable(token)
}

/// Printable ASCII only, at most [`MAX_ECHO`] bytes: what a hostile proxy sends never puts
/// control characters into a log line.
fn printable(bytes: &[u8]) -> String {
    bytes
        .iter()
        .take(MAX_ECHO)
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '?'
            }
        })
        .collect()
}
