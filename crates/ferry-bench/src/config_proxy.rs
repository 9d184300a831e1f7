//! `compare --proxy-config NAME=TEMPLATE=COMMAND`: a proxy started with a config file made from
//! a template, in front of two bench upstreams.
//! The config is written for each start (see `launch`).

use std::io;
use std::path::PathBuf;

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
