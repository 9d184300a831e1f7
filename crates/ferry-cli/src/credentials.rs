//! `ferry-gateway token ...` and `ferry-gateway jwt ...`: create static tokens, key pairs and
//! JWTs for the reverse tunnel (the cryptography is `ferry-auth`'s; this module writes files
//! carefully and prints).
//!
//! Secrets are written to new files only (never over an existing file) with mode 0600 on Unix,
//! and tokens are printed on stdout alone, so `ferry-gateway token new ... > agent.token` works.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Subcommand, ValueEnum};
use ferry_auth::{
    Algorithm, JwtSpec, KeyError, Role, SigningKey, generate_key_pair, generate_token, sign_jwt,
    token_line,
};
use ring::rand::SystemRandom;

/// `token` subcommands.
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Generate a static token: prints the token on stdout and appends its hash line
    /// (`ROLE AGENT sha256:HEX`) to the token file given with --token-file (created with mode
    /// 0600 if missing), or prints the line on stderr without --token-file.
    New {
        /// Who presents the token.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The agent id it is valid for; for client tokens `*` means every agent.
        #[arg(long, value_name = "AGENT_ID", alias = "agent")]
        agent_id: String,
        /// The gateway's token file to append the hash line to.
        #[arg(long, value_name = "FILE", alias = "tokens")]
        token_file: Option<PathBuf>,
    },
}

/// `jwt` subcommands.
#[derive(Subcommand, Debug)]
pub enum JwtCommand {
    /// Generate a signing key pair: the private key (PKCS#8 PEM, mode 0600) for whoever issues
    /// JWTs, the public key (SPKI PEM) for the gateway's `--jwt-public-key`. Neither file may
    /// exist yet.
    Keygen {
        /// Signature algorithm.
        #[arg(long, value_enum, default_value = "eddsa")]
        alg: AlgArg,
        /// Where to write the private key.
        #[arg(long, value_name = "FILE")]
        private: PathBuf,
        /// Where to write the public key.
        #[arg(long, value_name = "FILE")]
        public: PathBuf,
    },
    /// Sign a JWT with a private key from `jwt keygen` and print it on stdout.
    Sign {
        /// The private key (PKCS#8 PEM).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// `role` claim.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// `agent_id` claim.
        #[arg(long, value_name = "AGENT_ID", alias = "agent")]
        agent_id: String,
        /// Lifetime, e.g. `1h`, `30d`; `exp` is now plus this.
        #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_ttl)]
        ttl: Duration,
        /// `aud` claim (the gateway checks it when it is configured with one).
        #[arg(long)]
        aud: Option<String>,
        /// `iss` claim.
        #[arg(long)]
        iss: Option<String>,
        /// `kid` header, to pick among several public keys on the gateway.
        #[arg(long)]
        kid: Option<String>,
    },
}

/// `--role`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RoleArg {
    /// An agent connecting to the gateway.
    Agent,
    /// A client asking for a tunnel.
    Client,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Agent => Self::Agent,
            RoleArg::Client => Self::Client,
        }
    }
}

/// `--alg`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum AlgArg {
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// Ed25519.
    Eddsa,
}

fn parse_ttl(text: &str) -> Result<Duration, String> {
    let ttl = ferry_app_core::duration::parse_duration(text)?;
    if ttl.as_secs() == 0 {
        return Err("must be at least 1s".into());
    }
    Ok(ttl)
}

/// A credentials command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// Key generation, signing or a claim failed.
    #[error("cannot create the credential")]
    Key(#[from] KeyError),
    /// A file could not be read or written.
    #[error("{path}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: io::Error,
    },
    /// Printing the result failed.
    #[error("cannot write to stdout")]
    Stdout(#[source] io::Error),
}

fn file_error(path: &Path) -> impl FnOnce(io::Error) -> CredentialsError + '_ {
    move |source| CredentialsError::File {
        path: path.to_owned(),
        source,
    }
}

/// Runs a `token` command, printing to `out` (stdout) and `err` (stderr).
///
/// # Errors
///
/// [`CredentialsError`] naming the file or the step that failed.
pub fn run_token(
    command: &TokenCommand,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), CredentialsError> {
    let TokenCommand::New {
        role,
        agent_id,
        token_file,
    } = command;
    let rng = SystemRandom::new();
    let token = generate_token(&rng)?;
    let line = token_line((*role).into(), agent_id, &token)?;
    match token_file {
        Some(path) => {
            let mut options = OpenOptions::new();
            options.append(true).create(true);
            secret_mode(&mut options);
            let mut file = options.open(path).map_err(file_error(path))?;
            writeln!(file, "{line}").map_err(file_error(path))?;
        }
        None => {
            let _ = writeln!(err, "add this line to the gateway's token file:\n{line}");
        }
    }
    writeln!(out, "{token}").map_err(CredentialsError::Stdout)
}

/// Runs a `jwt` command, printing to `out` (stdout).
///
/// # Errors
///
/// [`CredentialsError`] naming the file or the step that failed; an existing output file is an
/// error (nothing is overwritten).
pub fn run_jwt(command: &JwtCommand, out: &mut dyn Write) -> Result<(), CredentialsError> {
    let rng = SystemRandom::new();
    match command {
        JwtCommand::Keygen {
            alg,
            private,
            public,
        } => {
            let alg = match alg {
                AlgArg::Es256 => Algorithm::Es256,
                AlgArg::Eddsa => Algorithm::EdDsa,
            };
            let pair = generate_key_pair(alg, &rng)?;
            // Refuse before writing anything if either file exists.
            for path in [private, public] {
                if path.exists() {
                    return Err(CredentialsError::File {
                        path: path.clone(),
                        source: io::ErrorKind::AlreadyExists.into(),
                    });
                }
            }
            write_new(private, pair.private_pkcs8_pem.as_bytes(), true)?;
            write_new(public, pair.public_spki_pem.as_bytes(), false)?;
            writeln!(
                out,
                "wrote {} (private, keep secret) and {} (public, for the gateway)",
                private.display(),
                public.display()
            )
            .map_err(CredentialsError::Stdout)
        }
        JwtCommand::Sign {
            key,
            role,
            agent_id,
            ttl,
            aud,
            iss,
            kid,
        } => {
            let pem = std::fs::read_to_string(key).map_err(file_error(key))?;
            let signer = SigningKey::from_pem(&pem, kid.as_deref(), &rng)?;
            let mut spec = JwtSpec::new((*role).into(), agent_id.clone(), ttl.as_secs());
            if let Some(aud) = aud {
                spec = spec.with_audience(aud.clone());
            }
            if let Some(iss) = iss {
                spec = spec.with_issuer(iss.clone());
            }
            // The binary is where the clock is read (libraries take time as a parameter).
            #[allow(clippy::disallowed_methods)]
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let jwt = sign_jwt(&signer, &spec, now, &rng)?;
            writeln!(out, "{jwt}").map_err(CredentialsError::Stdout)
        }
    }
}

fn write_new(path: &Path, bytes: &[u8], secret: bool) -> Result<(), CredentialsError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    if secret {
        secret_mode(&mut options);
    }
    let mut file = options.open(path).map_err(file_error(path))?;
    file.write_all(bytes).map_err(file_error(path))
}

#[cfg(unix)]
fn secret_mode(options: &mut OpenOptions) {
    use std::os::unix::fs::OpenOptionsExt;
    options.mode(0o600);
}

#[cfg(not(unix))]
fn secret_mode(_options: &mut OpenOptions) {}
