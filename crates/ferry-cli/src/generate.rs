//! `ferry-gen`: the programs' man pages and shell completions, generated from their real
//! `clap::Command`s ([`crate::args`]), so they always describe what the programs accept.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap_complete::Shell;

/// Why generating failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenerateError {
    /// A directory or file could not be created or written.
    #[error("cannot write {path}")]
    Write {
        /// The directory or file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The shells completions are written for, and where each looks for them under `out`'s
/// `completions/`: `bash/NAME`, `zsh/_NAME`, `fish/NAME.fish` (the file names bash-completion,
/// zsh's `fpath` and fish's `vendor_completions.d` expect).
pub const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

/// The file name a shell's completion for `program` goes by.
#[must_use]
pub fn completion_file(shell: Shell, program: &str) -> String {
    match shell {
        Shell::Zsh => format!("_{program}"),
        Shell::Fish => format!("{program}.fish"),
        _ => program.to_owned(),
    }
}

/// Writes, under `out`, `man/man1/PROGRAM.1` for every program and
/// `man/man1/PROGRAM-SUBCOMMAND.1` for every subcommand (hidden ones and `help` left out),
/// and `completions/{bash,zsh,fish}/...` (see [`SHELLS`]). Files already there are replaced.
/// Returns the paths written, in order.
///
/// # Errors
///
/// [`GenerateError::Write`] naming the directory or file that could not be written.
pub fn write_all(out: &Path) -> Result<Vec<PathBuf>, GenerateError> {
    let mut written = Vec::new();
    let man = out.join("man").join("man1");
    create_dir(&man)?;
    for (_, cmd) in crate::args::all() {
        write_man(cmd, &man, &mut written)?;
    }
    for shell in SHELLS {
        let dir = out.join("completions").join(shell.to_string());
        create_dir(&dir)?;
        for (program, mut cmd) in crate::args::all() {
            let path = dir.join(completion_file(shell, program));
            let mut text = Vec::new();
            clap_complete::generate(shell, &mut cmd, program, &mut text);
            write_file(&path, &text)?;
            written.push(path);
        }
    }
    Ok(written)
}

/// The page of `cmd`, then those of its visible subcommands, recursively (what
/// `clap_mangen::generate_to` does, keeping the paths).
fn write_man(
    cmd: clap::Command,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> Result<(), GenerateError> {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    write_pages(cmd, dir, written)
}

fn write_pages(
    cmd: clap::Command,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> Result<(), GenerateError> {
    let man = clap_mangen::Man::new(cmd.clone()).manual("Ferry manual");
    let path = dir.join(man.get_filename());
    let mut text = Vec::new();
    man.render(&mut text)
        .map_err(|source| GenerateError::Write {
            path: path.clone(),
            source,
        })?;
    write_file(&path, &text)?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub.clone(), dir, written)?;
    }
    Ok(())
}

fn create_dir(dir: &Path) -> Result<(), GenerateError> {
    std::fs::create_dir_all(dir).map_err(|source| GenerateError::Write {
        path: dir.to_owned(),
        source,
    })
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), GenerateError> {
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|source| GenerateError::Write {
            path: path.to_owned(),
            source,
        })
}
