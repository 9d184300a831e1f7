//! `ferry-gateway cert`: a private CA and a server certificate for the gateway, or with
//! `--client --agent-id ID` a client certificate for an agent (mTLS) (the certificates
//! themselves are `ferry_tls::PrivateCa`'s; this module writes the files carefully and prints
//! what to pass to whom).
//!
//! Nothing is written over an existing file without `--force`; private keys are created with
//! mode 0600 on Unix (with `--force`, a new file replaces the old one, so the mode is 0600
//! whatever the old file's was).

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use clap::{ArgGroup, Args};
use ferry_tls::{PemInput, PrivateCa, TlsConfigError};

/// Default validity of the server certificate, in days: 825.
pub const DEFAULT_DAYS: u32 = 825;

/// Default validity of a new CA, in days: 3650 (10 years).
pub const DEFAULT_CA_DAYS: u32 = 3650;

/// `ferry-gateway cert`'s arguments.
#[derive(Args, Debug, Clone)]
#[command(group(ArgGroup::new("names").args(["name", "ip", "agent_id"]).required(true).multiple(true)))]
pub struct CertArgs {
    /// DNS name clients connect to (a subjectAltName of the certificate); repeatable. The first
    /// name is also the one printed for `ferry-agent --server-name`.
    #[arg(long, value_name = "DNS_NAME")]
    pub name: Vec<String>,
    /// IP address clients connect to (a subjectAltName of the certificate); repeatable.
    #[arg(long, value_name = "IP")]
    pub ip: Vec<IpAddr>,
    /// Make a client certificate (extended key usage clientAuth) for the agent --agent-id
    /// instead of a server certificate: what an agent presents to a gateway with
    /// `auth.agent_auth = "certificate"` (or a client to `[client_tls] client_ca`). Issue it
    /// with the CA the gateway's `agent_ca` names (--ca-cert/--ca-key).
    #[arg(long, requires = "agent_id")]
    pub client: bool,
    /// The agent id the client certificate is for: its only DNS subjectAltName (and its
    /// common name), which the gateway matches against the id the agent connects as.
    #[arg(long, value_name = "AGENT_ID", requires = "client", conflicts_with_all = ["name", "ip"])]
    pub agent_id: Option<String>,
    /// Directory to write the files to (created if missing): ca.pem and ca.key (unless
    /// --ca-cert is given), gateway.pem (the certificate, then the CA) and gateway.key.
    #[arg(long, value_name = "DIR")]
    pub out_dir: PathBuf,
    /// Days the server certificate is valid, from now.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_DAYS,
          value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub days: u32,
    /// Days a new CA is valid, from now.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CA_DAYS,
          value_parser = clap::value_parser!(u32).range(1..=36_500), conflicts_with = "ca_cert")]
    pub ca_days: u32,
    /// Issue with this existing CA certificate (PEM) instead of making a new CA, e.g. the
    /// ca.pem of an earlier run, so that clients trusting it trust the new certificate too.
    #[arg(long, value_name = "PEM", requires = "ca_key")]
    pub ca_cert: Option<PathBuf>,
    /// The private key of --ca-cert (PEM).
    #[arg(long, value_name = "PEM", requires = "ca_cert")]
    pub ca_key: Option<PathBuf>,
    /// Base name of the certificate files: NAME.pem and NAME.key. Default `gateway`, or the
    /// agent id with --client.
    #[arg(long, value_name = "NAME")]
    pub file_name: Option<String>,
    /// Replace files that already exist (default: refuse and write nothing).
    #[arg(long)]
    pub force: bool,
}

/// `ferry-gateway cert` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// `--agent-id` is not a valid agent id.
    #[error("--agent-id {0:?} is not a valid agent id (1-128 characters of A-Z a-z 0-9 . _ -)")]
    AgentId(String),
    /// A name is not a DNS name, the CA files cannot be used, or issuing failed.
    #[error("cannot make the certificate")]
    Tls(#[from] TlsConfigError),
    /// A file to write exists and --force was not given.
    #[error("{0} already exists; pass --force to replace it")]
    Exists(PathBuf),
    /// `--file-name` is not a plain file name.
    #[error("--file-name {0:?} must be a plain file name (no directory, not ca)")]
    FileName(String),
    /// A directory or file could not be written.
    #[error("cannot write {path}")]
    Write {
        /// The directory or file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Printing the result failed.
    #[error("cannot write to stdout")]
    Stdout(#[source] io::Error),
}

impl CertError {
    /// Whether the error is the caller's (bad names or CA files, files in the way: exit 64)
    /// rather than the system's (exit 1).
    #[must_use]
    pub fn is_usage(&self) -> bool {
        !matches!(self, Self::Write { .. } | Self::Stdout(_))
    }
}

/// What one run wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Written {
    /// The CA certificate clients trust (written, or the --ca-cert given).
    pub ca_cert: PathBuf,
    /// The CA key, when a new CA was made.
    pub ca_key: Option<PathBuf>,
    /// The server's chain.
    pub cert: PathBuf,
    /// The server's key.
    pub key: PathBuf,
}

/// Makes the CA (or loads --ca-cert / --ca-key) and the server certificate valid from `now`,
/// writes the files and prints on `out` what was written and what to pass to the gateway, the
/// agents and peer gateways.
///
/// # Errors
///
/// [`CertError`]: an invalid name or unusable CA file, a file in the way (nothing is then
/// written), a file that cannot be written.
pub fn run_cert(
    args: &CertArgs,
    now: SystemTime,
    out: &mut dyn Write,
) -> Result<Written, CertError> {
    let client = args.agent_id.as_deref().filter(|_| args.client);
    if let Some(id) = client
        && !ferry_auth::is_valid_agent_id(id)
    {
        return Err(CertError::AgentId(id.to_owned()));
    }
    let stem = args.file_name.as_deref().or(client).unwrap_or("gateway");
    if stem.is_empty() || stem == "ca" || stem.contains(['/', '\\']) || stem.starts_with('.') {
        return Err(CertError::FileName(stem.to_owned()));
    }
    let names: Vec<String> = args
        .name
        .iter()
        .cloned()
        .chain(args.ip.iter().map(IpAddr::to_string))
        .collect();
    let days = |n: u32| Duration::from_secs(u64::from(n) * 86_400);
    let (ca, new_ca) = match (&args.ca_cert, &args.ca_key) {
        (Some(cert), Some(key)) => (
            PrivateCa::from_pem(&PemInput::file(cert), &PemInput::file(key))?,
            false,
        ),
        _ => (
            PrivateCa::generate(&ca_name()?, now, days(args.ca_days))?,
            true,
        ),
    };
    let issued = match client {
        Some(id) => ca.issue_client(id, now, days(args.days))?,
        None => ca.issue_server(&names, now, days(args.days))?,
    };

    let dir = &args.out_dir;
    let written = Written {
        ca_cert: match &args.ca_cert {
            Some(path) if !new_ca => path.clone(),
            _ => dir.join("ca.pem"),
        },
        ca_key: new_ca.then(|| dir.join("ca.key")),
        cert: dir.join(format!("{stem}.pem")),
        key: dir.join(format!("{stem}.key")),
    };
    let mut files: Vec<(&Path, &str, bool)> = Vec::new();
    if new_ca {
        files.push((&written.ca_cert, ca.cert_pem(), false));
    }
    if let Some(ca_key) = &written.ca_key {
        files.push((ca_key, ca.key_pem(), true));
    }
    files.push((&written.cert, issued.chain_pem(), false));
    files.push((&written.key, issued.key_pem(), true));
    // Refuse before writing anything.
    if !args.force
        && let Some((path, _, _)) = files.iter().find(|(path, _, _)| path.exists())
    {
        return Err(CertError::Exists(path.to_path_buf()));
    }
    std::fs::create_dir_all(dir).map_err(|source| CertError::Write {
        path: dir.clone(),
        source,
    })?;
    for (path, text, secret) in &files {
        replace(path, text.as_bytes(), *secret)?;
    }
    match client {
        Some(id) => report_client(args, id, issued.serial(), &written, out),
        None => report(args, &names, &written, out),
    }
    .map_err(CertError::Stdout)?;
    Ok(written)
}

/// `Ferry private CA` and 8 random hex digits: two CAs made apart have different names, so
/// a client trusting one reports the other's certificates as from an unknown issuer.
fn ca_name() -> Result<String, CertError> {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 4];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_unspecified| CertError::Tls(TlsConfigError::Random))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("Ferry private CA {hex}"))
}

fn report(args: &CertArgs, names: &[String], w: &Written, out: &mut dyn Write) -> io::Result<()> {
    let (ca, cert, key) = (w.ca_cert.display(), w.cert.display(), w.key.display());
    match &w.ca_key {
        Some(ca_key) => writeln!(
            out,
            "wrote {ca} (the CA: clients trust it) and {} (its key: keep it secret, it issues more certificates)",
            ca_key.display()
        )?,
        None => writeln!(out, "issued by the CA in {ca}")?,
    }
    writeln!(
        out,
        "wrote {cert} and {key}: a server certificate for {}, valid for {} days",
        names.join(", "),
        args.days
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "gateway:       --tls-cert {cert} --tls-key {key}   (config file: [tls] cert, key)"
    )?;
    let first = names.first().map_or("NAME", String::as_str);
    writeln!(
        out,
        "agents:        --tls-ca {ca} --server-name {first}   (config file: ca, server_name)"
    )?;
    writeln!(
        out,
        "peer gateways: [cluster] peer_ca = \"{ca}\" (and [cluster.peer_tls] or [tls] with this certificate)"
    )?;
    if let Some(ca_key) = &w.ca_key {
        writeln!(
            out,
            "another one:   ferry-gateway cert --ca-cert {ca} --ca-key {} --name NAME --out-dir DIR",
            ca_key.display()
        )?;
    }
    Ok(())
}

fn report_client(
    args: &CertArgs,
    id: &str,
    serial: &ferry_tls::Serial,
    w: &Written,
    out: &mut dyn Write,
) -> io::Result<()> {
    let (ca, cert, key) = (w.ca_cert.display(), w.cert.display(), w.key.display());
    match &w.ca_key {
        Some(ca_key) => writeln!(
            out,
            "wrote {ca} (the CA: the gateway trusts it for agents) and {} (its key: keep it secret, it issues more certificates)",
            ca_key.display()
        )?,
        None => writeln!(out, "issued by the CA in {ca}")?,
    }
    writeln!(
        out,
        "wrote {cert} and {key}: a client certificate for agent {id} (serial {serial}), valid for {} days",
        args.days
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "agent {id}:  --agent-id {id} --tls-cert {cert} --tls-key {key}   (config file: cert, key)"
    )?;
    writeln!(
        out,
        "gateway:     [auth] agent_auth = \"certificate\" (or \"token+certificate\"), agent_ca = \"{ca}\""
    )?;
    writeln!(
        out,
        "revoke it:   [auth] agent_revoked_serials = [\"{serial}\"], then reload the gateway (SIGHUP)"
    )?;
    Ok(())
}

/// Writes `bytes` to a new file next to `path`, then renames it over `path`: a reader never
/// sees half a file, and a key file is created private (mode 0600) even when it replaces one
/// that was not.
fn replace(path: &Path, bytes: &[u8], secret: bool) -> Result<(), CertError> {
    let failed = |source| CertError::Write {
        path: path.to_path_buf(),
        source,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    if secret {
        secret_mode(&mut options);
    }
    let written = options
        .open(&temp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written.map_err(failed)
}

#[cfg(unix)]
fn secret_mode(options: &mut OpenOptions) {
    use std::os::unix::fs::OpenOptionsExt;
    options.mode(0o600);
}

#[cfg(not(unix))]
fn secret_mode(_options: &mut OpenOptions) {}
