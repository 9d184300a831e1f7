//! SOCKS5 through the proxy, with ferry-front's client encoders and reply parsers.

use ferry_base::io::Prefixed;
use ferry_front::Address;
use ferry_front::socks5::{
    Command, MAX_REQUEST_LEN, METHOD_NO_ACCEPTABLE, METHOD_NO_AUTH, METHOD_USERNAME_PASSWORD,
    ReplyCode, client,
};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::connect::{receive, send};
use crate::{ConnectConfig, EgressError, EgressProxy, ProxyKind};

/// A method selection and an auth status are two bytes each.
const SHORT_REPLY: usize = 2;

pub(crate) async fn handshake<S>(
    io: &mut Prefixed<S>,
    proxy: &EgressProxy,
    target: &Address,
    config: &ConnectConfig,
) -> Result<(), EgressError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let name = || proxy.url_without_credentials();
    let not_socks = |source| EgressError::NotSocks5 {
        proxy: name(),
        source,
    };
    let invalid = || EgressError::InvalidTarget {
        proxy: name(),
        target: target.to_string(),
    };
    // socks5:// resolves the destination here (first address); socks5h:// sends the name.
    let wire_target = match (proxy.kind(), target) {
        (ProxyKind::Socks5, Address::Domain(host, port)) => {
            let found = config.resolver.resolve(host, *port).await.map_err(|e| {
                EgressError::ResolveTarget {
                    proxy: name(),
                    target: target.to_string(),
                    source: Some(e),
                }
            })?;
            let first = found.first().ok_or_else(|| EgressError::ResolveTarget {
                proxy: name(),
                target: target.to_string(),
                source: None,
            })?;
            Address::Ip(*first)
        }
        _ => target.clone(),
    };
    if wire_target.port() == 0 {
        return Err(invalid());
    }

    // Offer username/password only with credentials, and no authentication as well (a
    // server that needs none may pick it).
    let methods: &[_] = match proxy.credentials() {
        Some(_) => &[METHOD_NO_AUTH, METHOD_USERNAME_PASSWORD],
        None => &[METHOD_NO_AUTH],
    };
    let mut out = Vec::with_capacity(16);
    client::greeting(methods, &mut out).map_err(not_socks)?;
    send(io, &out, proxy).await?;
    let method = receive(
        io,
        SHORT_REPLY,
        proxy,
        client::parse_method_selection,
        not_socks,
    )
    .await?;
    match (method, proxy.credentials()) {
        (m, _) if m == METHOD_NO_AUTH => {}
        (m, Some(creds)) if m == METHOD_USERNAME_PASSWORD => {
            out.clear();
            client::auth(creds.username(), creds.password(), &mut out).map_err(not_socks)?;
            send(io, &out, proxy).await?;
            let ok = receive(io, SHORT_REPLY, proxy, client::parse_auth_reply, not_socks).await?;
            if !ok {
                return Err(EgressError::Socks5AuthRejected {
                    proxy: name(),
                    username: creds.username().to_owned(),
                });
            }
        }
        (m, creds) if m == METHOD_NO_ACCEPTABLE => {
            return Err(EgressError::NoAcceptableMethod {
                proxy: name(),
                hint: match creds {
                    None => {
                        "offered: no authentication; it probably needs user:password@ in the proxy URL"
                    }
                    Some(_) => "offered: no authentication, username/password",
                },
            });
        }
        (m, _) => {
            return Err(EgressError::UnexpectedMethod {
                proxy: name(),
                method: m.0,
            });
        }
    }

    out.clear();
    client::request(Command::Connect, &wire_target, &mut out)
        .ok()
        .ok_or_else(invalid)?;
    send(io, &out, proxy).await?;
    let reply = receive(io, MAX_REQUEST_LEN, proxy, client::parse_reply, not_socks).await?;
    if reply.code != ReplyCode::SUCCEEDED {
        return Err(EgressError::Socks5Refused {
            proxy: name(),
            target: target.to_string(),
            code: reply.code,
        });
    }
    Ok(())
}
