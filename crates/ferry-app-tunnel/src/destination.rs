//! A CONNECT target turned into the tunnel's [`Destination`] once, at the edge, and back into
//! a CONNECT target where a tunnel is forwarded to another gateway.

use std::net::SocketAddr;

use ferry_front::Address;
use ferry_tunnel::{DestHost, Destination, WireError};

/// The tunnel destination of a CONNECT target.
///
/// # Errors
///
/// [`WireError`] for port 0 or a name the tunnel cannot carry.
pub(crate) fn from_target(target: &Address) -> Result<Destination, WireError> {
    match target {
        Address::Ip(sa) => Destination::try_from(*sa),
        Address::Domain(name, port) => Destination::parse(name, *port),
        // Any other form of address (none today) is not one the tunnel can carry.
        _ => Err(WireError::DomainName),
    }
}

/// The CONNECT target of a tunnel destination.
pub(crate) fn to_target(destination: &Destination) -> Address {
    let port = destination.port.get();
    match &destination.host {
        DestHost::Ip(ip) => Address::Ip(SocketAddr::new(*ip, port)),
        DestHost::Domain(name) => Address::Domain(name.to_string(), port),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn targets_round_trip_and_bad_ones_are_refused() {
        for t in ["10.0.0.1:22", "[2001:db8::1]:443", "app.internal:8080"] {
            let a: Address = t.parse().unwrap();
            let d = from_target(&a).unwrap();
            assert_eq!(d.to_string(), t);
            assert_eq!(to_target(&d), a);
        }
        assert!(from_target(&Address::Domain("bad name".into(), 80)).is_err());
        assert!(from_target(&Address::Ip("10.0.0.1:0".parse().unwrap())).is_err());
    }
}
