//! Client certificates (mTLS): which are accepted ([`ClientCertPolicy`], built into a
//! [`ClientCertChecker`]), revocation by CRL files and by serial ([`RevokedSerials`]), a
//! verifier whose policy is swapped at reload ([`SharedClientVerifier`]), who a certificate
//! names ([`CertIdentity`], the agent name rule in [`CertIdentity::agent_name`]) and refusals
//! in plain words ([`ClientCertRefused`]).

mod crl;
mod identity;
mod policy;
mod serial;
mod shared;

pub use identity::{CertIdentity, IdentityError};
pub use policy::{ClientCertChecker, ClientCertFault, ClientCertPolicy, ClientCertRefused};
pub use serial::{MAX_SERIAL_LEN, RevokedSerials, Serial, SerialError};
pub use shared::SharedClientVerifier;
