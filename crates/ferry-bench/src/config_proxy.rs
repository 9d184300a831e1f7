//! `compare --proxy-config NAME=TEMPLATE=COMMAND`: a proxy started with a config file made from
//! a template, in front of two bench upstreams.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::{Target, free_port, wait_ready};

/// A proxy started from a config file; the file is removed when this is dropped.
pub(crate) struct ConfigTarget {
    pub(crate) target: Target,
    file: PathBuf,
}

impl Drop for ConfigTarget {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

/// Parses `NAME=TEMPLATE=COMMAND`.
pub(crate) fn parse(spec: &str) -> io::Result<(String, PathBuf, Vec<String>)> {
    let mut parts = spec.splitn(3, '=');
    let (Some(name), Some(template), Some(cmd)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(io::Error::other(format!(
            "--proxy-config {spec:?} is not NAME=TEMPLATE=COMMAND"
        )));
    };
    let cmd: Vec<String> = cmd.split_whitespace().map(str::to_owned).collect();
    if cmd.is_empty() {
        return Err(io::Error::other(format!(
            "--proxy-config {spec:?} has no command"
        )));
    }
    Ok((name.to_owned(), PathBuf::from(template), cmd))
}

/// Fills `{listen}`, `{upstream1}` and `{upstream2}` in the template, writes the config to a
/// temporary file and starts `COMMAND --config FILE`.
pub(crate) async fn start(spec: &str, upstreams: [SocketAddr; 2]) -> io::Result<ConfigTarget> {
    let (name, template, cmd) = parse(spec)?;
    let addr = free_port().await?;
    let text = std::fs::read_to_string(&template)
        .map_err(|e| io::Error::other(format!("{}: {e}", template.display())))?
        .replace("{listen}", &addr.to_string())
        .replace("{upstream1}", &upstreams[0].to_string())
        .replace("{upstream2}", &upstreams[1].to_string());
    let file = std::env::temp_dir().join(format!("ferry-bench-{}-{name}.toml", std::process::id()));
    std::fs::write(&file, text)?;
    let child = Command::new(&cmd[0])
        .args(&cmd[1..])
        .arg("--config")
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .env("RUST_LOG", "warn")
        .spawn()?;
    let target = Target {
        name,
        addr,
        child: Some(child),
    };
    let out = ConfigTarget { target, file };
    wait_ready(addr).await?;
    Ok(out)
}
