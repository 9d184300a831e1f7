//! `scripts/install.sh` run for real into temporary prefixes, with this build's binaries
//! (`FERRY_BIN_DIR`): every file in place, the installed programs run, the man pages and
//! completions are the programs' own, the systemd units pass `systemd-analyze verify`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/program.rs"]
mod program;
#[path = "support/tunnel.rs"]
mod tunnel;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tunnel::scratch;

const PROGRAMS: [&str; 4] = ["ferry-proxy", "ferry-hop", "ferry-gateway", "ferry-agent"];
const UNITS: [&str; 4] = [
    "ferry-proxy.service",
    "ferry-hop@.service",
    "ferry-gateway.service",
    "ferry-agent.service",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The directory holding this build's binaries (the four programs and `ferry-gen`).
fn bin_dir() -> PathBuf {
    let gen_dir = Path::new(env!("CARGO_BIN_EXE_ferry-gen")).parent().unwrap();
    assert_eq!(
        Path::new(env!("CARGO_BIN_EXE_ferry-proxy"))
            .parent()
            .unwrap(),
        gen_dir
    );
    gen_dir.to_owned()
}

/// Runs `scripts/install.sh prefix` with this build's binaries and `destdir`, if any.
fn install(prefix: &str, destdir: Option<&Path>) -> Output {
    let mut cmd = Command::new(repo().join("scripts/install.sh"));
    cmd.arg(prefix)
        .env("FERRY_BIN_DIR", bin_dir())
        .env_remove("DESTDIR")
        .stdin(Stdio::null());
    if let Some(d) = destdir {
        cmd.env("DESTDIR", d);
    }
    cmd.output().unwrap()
}

/// The man pages ferry-gen writes: one per program and per visible subcommand.
fn man_pages() -> BTreeSet<String> {
    fn walk(cmd: &clap::Command, name: &str, out: &mut BTreeSet<String>) {
        out.insert(format!("{name}.1"));
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            if sub.get_name() != "help" {
                walk(sub, &format!("{name}-{}", sub.get_name()), out);
            }
        }
    }
    let mut out = BTreeSet::new();
    for (name, cmd) in ferry_cli::args::all() {
        walk(&cmd, name, &mut out);
    }
    out
}

/// Every file below `dir`, relative to it.
fn files_below(dir: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

/// What install.sh must install, relative to the prefix.
fn expected_files() -> BTreeSet<String> {
    let mut want = BTreeSet::new();
    for p in PROGRAMS {
        want.insert(format!("bin/{p}"));
        want.insert(format!("share/bash-completion/completions/{p}"));
        want.insert(format!("share/zsh/site-functions/_{p}"));
        want.insert(format!("share/fish/vendor_completions.d/{p}.fish"));
    }
    for page in man_pages() {
        want.insert(format!("share/man/man1/{page}"));
    }
    for unit in UNITS {
        want.insert(format!("lib/systemd/system/{unit}"));
    }
    // The sample configs: whatever the repository has (possibly none).
    if let Ok(dir) = std::fs::read_dir(repo().join("examples/config")) {
        for entry in dir {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".toml") {
                want.insert(format!("share/doc/ferry/examples/{name}"));
            }
        }
    }
    want
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "install.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn install_puts_every_file_in_place_prints_it_and_can_run_again() {
    let dir = scratch("install-prefix");
    let prefix = dir.join("usr");
    let prefix_s = prefix.to_str().unwrap();
    let first = stdout(&install(prefix_s, None));

    let want = expected_files();
    assert_eq!(files_below(&prefix), want);
    // One `installed PATH` line per file, naming it.
    let printed: BTreeSet<String> = first
        .lines()
        .map(|l| {
            let path = l.strip_prefix("installed ").unwrap();
            Path::new(path)
                .strip_prefix(&prefix)
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    assert_eq!(printed, want);

    // Every installed program runs and tells its version.
    for p in PROGRAMS {
        let out = Command::new(prefix.join("bin").join(p))
            .arg("--version")
            .output()
            .unwrap();
        assert!(out.status.success(), "{p} --version");
        assert_eq!(
            String::from_utf8(out.stdout).unwrap().trim(),
            format!("{p} {}", env!("CARGO_PKG_VERSION"))
        );
    }

    // Idempotent: a second run replaces the same files, adds none and fails on none.
    let before = std::fs::read(prefix.join("share/man/man1/ferry-agent.1")).unwrap();
    let second = stdout(&install(prefix_s, None));
    assert_eq!(second, first);
    assert_eq!(files_below(&prefix), want);
    assert_eq!(
        std::fs::read(prefix.join("share/man/man1/ferry-agent.1")).unwrap(),
        before
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn man_pages_and_completions_are_generated_from_the_programs() {
    let dir = scratch("install-docs");
    let prefix = dir.join("p");
    stdout(&install(prefix.to_str().unwrap(), None));
    let man1 = prefix.join("share/man/man1");

    // The pages render with man(1) and name the programs' current flags and variables.
    let rendered = |page: &str| {
        let out = Command::new("man")
            .args(["-l", "-P", "cat"])
            .arg(man1.join(page))
            .env("MANWIDTH", "200")
            .env("MAN_KEEP_FORMATTING", "0")
            .output()
            .unwrap();
        assert!(out.status.success(), "man -l {page}");
        // Plain text: drop grotty's overstrike (bold `X\bX`, underline `_\bX`) and its
        // typographic hyphens.
        let mut text = String::new();
        for c in String::from_utf8_lossy(&out.stdout).chars() {
            match c {
                '\u{8}' => {
                    text.pop();
                }
                '\u{2010}' | '\u{2011}' | '\u{2212}' => text.push('-'),
                c => text.push(c),
            }
        }
        text
    };
    let agent = rendered("ferry-agent.1");
    for needle in [
        "--tls-ca",
        "--agent-id",
        "--token-file",
        "FERRY_AGENT_CONFIG",
        "FERRY_LOG_FORMAT",
    ] {
        assert!(
            agent.contains(needle),
            "{needle} not in ferry-agent(1):\n{agent}"
        );
    }
    let serve = rendered("ferry-hop-serve.1");
    assert!(serve.contains("--tls-ca"), "{serve}");
    assert!(serve.contains("FERRY_HOP_SERVE_CONFIG"), "{serve}");
    assert!(
        !serve.contains("next-hop-tls-ca"),
        "hidden alias shown: {serve}"
    );
    let token_new = rendered("ferry-gateway-token-new.1");
    assert!(token_new.contains("--token-file"), "{token_new}");

    // bash loads every completion and then completes the program's flags.
    for p in PROGRAMS {
        let file = prefix.join("share/bash-completion/completions").join(p);
        let script = format!("source {} && complete -p {p}", file.to_str().unwrap());
        let out = Command::new("bash")
            .args(["--noprofile", "--norc", "-c", &script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{p}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains(p));
    }
    let bash_agent =
        std::fs::read_to_string(prefix.join("share/bash-completion/completions/ferry-agent"))
            .unwrap();
    assert!(bash_agent.contains("--tls-ca") && bash_agent.contains("--agent-id"));
    let zsh_gateway =
        std::fs::read_to_string(prefix.join("share/zsh/site-functions/_ferry-gateway")).unwrap();
    assert!(zsh_gateway.starts_with("#compdef ferry-gateway"));
    let fish_hop =
        std::fs::read_to_string(prefix.join("share/fish/vendor_completions.d/ferry-hop.fish"))
            .unwrap();
    assert!(fish_hop.contains("-l tls-ca"), "{fish_hop}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn destdir_stages_files_that_name_the_prefix() {
    let dir = scratch("install-destdir");
    let stage = dir.join("stage");
    let prefix = format!("/opt/ferry-test-{}", std::process::id());
    let out = stdout(&install(&prefix, Some(&stage)));
    let root = stage.join(prefix.trim_start_matches('/'));
    assert_eq!(files_below(&root), expected_files());
    assert!(out.contains(&format!("installed {}/bin/ferry-proxy", root.display())));
    assert!(!Path::new(&prefix).exists(), "wrote outside DESTDIR");
    let unit =
        std::fs::read_to_string(root.join("lib/systemd/system/ferry-proxy.service")).unwrap();
    assert!(
        unit.contains(&format!(
            "\nExecStart={prefix}/bin/ferry-proxy --config /etc/ferry/proxy.toml\n"
        )),
        "{unit}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_relative_prefix_is_a_usage_error() {
    let out = install("relative/prefix", None);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("absolute"));
}

/// `systemd-analyze verify` on a unit: its exit status and what it printed.
fn verify(unit: &Path, manpath: &Path) -> (bool, String) {
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(unit)
        .env("MANPATH", manpath)
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn installed_systemd_units_verify_and_are_hardened() {
    let dir = scratch("install-units");
    let prefix = dir.join("usr");
    stdout(&install(prefix.to_str().unwrap(), None));
    let units = prefix.join("lib/systemd/system");
    let manpath = prefix.join("share/man");
    for name in UNITS {
        let path = units.join(name);
        // systemd-analyze checks the ExecStart binary exists and the man page of
        // Documentation= opens, and warns about any unknown or misspelt key.
        let (ok, text) = verify(&path, &manpath);
        assert!(ok && text.trim().is_empty(), "{name}: {text}");

        let unit = std::fs::read_to_string(&path).unwrap();
        let program = name.split(['.', '@']).next().unwrap();
        let exec = unit
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .unwrap();
        assert!(
            exec.starts_with(&format!("{}/bin/{program} ", prefix.display())),
            "{exec}"
        );
        assert!(exec.contains(" --config /etc/ferry/"), "{exec}");
        for line in [
            "DynamicUser=yes",
            "ProtectSystem=strict",
            "ProtectHome=yes",
            "PrivateTmp=yes",
            "NoNewPrivileges=yes",
            "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
            "AmbientCapabilities=CAP_NET_BIND_SERVICE",
            "ExecReload=/bin/kill -HUP $MAINPID",
            "Restart=on-failure",
            "ConfigurationDirectory=ferry",
        ] {
            assert!(unit.lines().any(|l| l == line), "{name} lacks {line}");
        }
        let nofile: u64 = unit
            .lines()
            .find_map(|l| l.strip_prefix("LimitNOFILE="))
            .unwrap()
            .parse()
            .unwrap();
        assert!(nofile >= 65_536, "{name}: LimitNOFILE={nofile}");

        // The check can fail: the same unit naming a program that is not there is refused.
        let broken = dir.join(name);
        std::fs::write(
            &broken,
            unit.replace(&format!("{}/bin/", prefix.display()), "/nonexistent/bin/"),
        )
        .unwrap();
        let (ok, text) = verify(&broken, &manpath);
        assert!(!ok && text.contains("/nonexistent/bin/"), "{name}: {text}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
