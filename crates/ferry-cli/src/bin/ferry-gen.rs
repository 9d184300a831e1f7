//! `ferry-gen OUT_DIR`: writes the four programs' man pages (`OUT_DIR/man/man1/*.1`) and shell
//! completions (`OUT_DIR/completions/{bash,zsh,fish}/`), generated from their real command
//! lines. `scripts/install.sh` runs it; see `ferry_cli::generate`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ferry_cli::{EXIT_FAILURE, fail};

const PROGRAM: &str = "ferry-gen";

/// Writes the man pages and shell completions (bash, zsh, fish) of ferry-proxy, ferry-hop,
/// ferry-gateway and ferry-agent under OUT_DIR, and prints every path written.
#[derive(Parser, Debug)]
#[command(name = PROGRAM, version)]
struct Args {
    /// Directory to write `man/man1/` and `completions/{bash,zsh,fish}/` into (created).
    out_dir: PathBuf,
}

fn main() -> ExitCode {
    let args = match ferry_cli::parse_args::<Args>() {
        Ok(args) => args,
        Err(code) => return code,
    };
    match ferry_cli::generate::write_all(&args.out_dir) {
        Ok(paths) => {
            for p in paths {
                println!("{}", p.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(PROGRAM, &e, EXIT_FAILURE),
    }
}
