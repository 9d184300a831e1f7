//! The tables `compare-tls` prints: medians per terminator, then ratios against the naive one.

use crate::compare_tls::{Figures, VERSIONS};
use crate::median;

type Get = Box<dyn Fn(&Figures) -> Option<f64>>;

/// The median, `None` for no values.
fn med(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| median(v))
}

fn rows() -> Vec<(String, Get)> {
    let mut rows: Vec<(String, Get)> = Vec::new();
    for (i, v) in VERSIONS.iter().enumerate() {
        let l = v.label();
        rows.push((
            format!("{l} full handshakes/s"),
            Box::new(move |f| med(&f.full[i])),
        ));
        rows.push((
            format!("{l} resumed handshakes/s"),
            Box::new(move |f| med(&f.resumed[i])),
        ));
        rows.push((
            format!("{l} resumed / full (x)"),
            Box::new(move |f| med(&f.ratio[i])),
        ));
        rows.push((
            format!("{l} share of handshakes resumed (%)"),
            Box::new(move |f| med(&f.resumed_share[i]).map(|s| s * 100.0)),
        ));
        rows.push((
            format!("{l} CPU per full-handshake connection (us)"),
            Box::new(move |f| med(&f.cpu_full_us[i])),
        ));
        rows.push((
            format!("{l} CPU per resumed connection (us)"),
            Box::new(move |f| med(&f.cpu_resumed_us[i])),
        ));
    }
    rows.push((
        "TLS 1.3 bulk, 1 stream (MiB/s)".to_owned(),
        Box::new(|f| med(&f.bulk).map(|b| b / 1_048_576.0)),
    ));
    rows.push((
        "CPU per GB, bulk (s)".to_owned(),
        Box::new(|f| med(&f.cpu_per_gb)),
    ));
    rows.push((
        "RSS per idle TLS connection (bytes)".to_owned(),
        Box::new(|f| f.idle_bytes),
    ));
    rows
}

pub(crate) fn print_table(cert: &str, names: &[&str], figs: &[Figures]) {
    let rows = rows();
    println!("### {cert}\n");
    println!("| metric | {} |", names.join(" | "));
    println!("|---|{}", "---|".repeat(names.len()));
    for (label, get) in &rows {
        let cells: Vec<String> = figs
            .iter()
            .map(|f| get(f).map_or_else(|| "-".to_owned(), |v| format!("{v:.2}")))
            .collect();
        println!("| {label} | {} |", cells.join(" | "));
    }
    let Some(naive) = figs.first() else { return };
    if names.len() < 2 {
        return;
    }
    println!("\n{cert}, ratios against naive-tls (x):\n");
    println!("| metric | {} |", names[1..].join(" | "));
    println!("|---|{}", "---|".repeat(names.len() - 1));
    for (label, get) in &rows {
        let cells: Vec<String> = figs[1..]
            .iter()
            .map(|f| match (get(f), get(naive)) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
                _ => "-".to_owned(),
            })
            .collect();
        println!("| {label} | {} |", cells.join(" | "));
    }
    println!();
}
