//! The tables `compare-tls` prints: medians per terminator, then ratios against the naive one
//! (and, with three or more terminators, against the first after it).
//!
//! A resumed-handshake figure counts only when the terminator actually resumed: if fewer than
//! [`MIN_RESUMED_SHARE`] of a resuming run's handshakes were resumed (median of the rounds),
//! its rate, ratio and CPU cells read `not resumed (N%)` instead of a number, and its ratios
//! are left out.

use crate::compare_tls::{Figures, VERSIONS};
use crate::median_of;

/// The share of handshakes a resuming run must resume for its figures to count.
pub(crate) const MIN_RESUMED_SHARE: f64 = 0.95;

type Get = Box<dyn Fn(&Figures) -> Option<f64>>;

/// One row: its label, its figure, and for resumed-handshake rows the version index whose
/// resumption it depends on.
struct Row {
    label: String,
    get: Get,
    resumed: Option<usize>,
}

impl Row {
    fn new(label: String, get: Get) -> Self {
        Self {
            label,
            get,
            resumed: None,
        }
    }

    fn resumed(label: String, v: usize, get: Get) -> Self {
        Self {
            label,
            get,
            resumed: Some(v),
        }
    }

    /// The figure, or `Err(share)` when it depends on resumption that did not happen.
    fn value(&self, f: &Figures) -> Result<Option<f64>, f64> {
        if let Some(v) = self.resumed
            && let Some(share) = median_of(&f.resumed_share[v])
            && share < MIN_RESUMED_SHARE
        {
            return Err(share);
        }
        Ok((self.get)(f))
    }

    fn cell(&self, f: &Figures) -> String {
        match self.value(f) {
            Ok(Some(v)) => format!("{v:.2}"),
            Ok(None) => "-".to_owned(),
            Err(share) => format!("not resumed ({:.0}%)", share * 100.0),
        }
    }

    fn ratio(&self, f: &Figures, base: &Figures) -> String {
        match (self.value(f), self.value(base)) {
            (Ok(Some(a)), Ok(Some(b))) if b > 0.0 => format!("{:.2}", a / b),
            _ => "-".to_owned(),
        }
    }
}

fn rows() -> Vec<Row> {
    let mut rows = Vec::new();
    for (i, v) in VERSIONS.iter().enumerate() {
        let l = v.label();
        rows.push(Row::new(
            format!("{l} full handshakes/s"),
            Box::new(move |f| median_of(&f.full[i])),
        ));
        rows.push(Row::resumed(
            format!("{l} resumed handshakes/s"),
            i,
            Box::new(move |f| median_of(&f.resumed[i])),
        ));
        rows.push(Row::resumed(
            format!("{l} resumed / full (x)"),
            i,
            Box::new(move |f| median_of(&f.ratio[i])),
        ));
        rows.push(Row::new(
            format!("{l} share of handshakes resumed (%)"),
            Box::new(move |f| median_of(&f.resumed_share[i]).map(|s| s * 100.0)),
        ));
        rows.push(Row::new(
            format!("{l} CPU per full-handshake connection (us)"),
            Box::new(move |f| median_of(&f.cpu_full_us[i])),
        ));
        rows.push(Row::resumed(
            format!("{l} CPU per resumed connection (us)"),
            i,
            Box::new(move |f| median_of(&f.cpu_resumed_us[i])),
        ));
    }
    rows.push(Row::new(
        "TLS 1.3 bulk, 1 stream (MiB/s)".to_owned(),
        Box::new(|f| median_of(&f.bulk).map(|b| b / 1_048_576.0)),
    ));
    rows.push(Row::new(
        "CPU per GB, bulk (s)".to_owned(),
        Box::new(|f| median_of(&f.cpu_per_gb)),
    ));
    rows.push(Row::new(
        "RSS per idle TLS connection (bytes)".to_owned(),
        Box::new(|f| f.idle_bytes),
    ));
    rows
}

/// The table of `cert`'s figures, then the ratio tables.
pub(crate) fn print_table(cert: &str, names: &[&str], figs: &[Figures]) {
    print!("{}", table(cert, names, figs));
}

fn table(cert: &str, names: &[&str], figs: &[Figures]) -> String {
    use std::fmt::Write as _;
    let rows = rows();
    let mut out = String::new();
    let _ = writeln!(out, "### {cert}\n");
    let _ = writeln!(out, "| metric | {} |", names.join(" | "));
    let _ = writeln!(out, "|---|{}", "---|".repeat(names.len()));
    for row in &rows {
        let cells: Vec<String> = figs.iter().map(|f| row.cell(f)).collect();
        let _ = writeln!(out, "| {} | {} |", row.label, cells.join(" | "));
    }
    // Against the naive terminator, then against the first terminator after it.
    for base in 0..2 {
        let (Some(b), Some(rest)) = (figs.get(base), figs.get(base + 1..)) else {
            break;
        };
        if rest.is_empty() {
            break;
        }
        let _ = writeln!(out, "\n{cert}, ratios against {} (x):\n", names[base]);
        let _ = writeln!(out, "| metric | {} |", names[base + 1..].join(" | "));
        let _ = writeln!(out, "|---|{}", "---|".repeat(rest.len()));
        // The share resumed is a percentage of the terminator's own handshakes: no ratio.
        for row in rows.iter().filter(|r| !r.label.contains("share")) {
            let cells: Vec<String> = rest.iter().map(|f| row.ratio(f, b)).collect();
            let _ = writeln!(out, "| {} | {} |", row.label, cells.join(" | "));
        }
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(resumed_share: f64) -> Figures {
        let mut f = Figures::default();
        for v in 0..2 {
            f.full[v] = vec![100.0];
            f.resumed[v] = vec![150.0];
            f.ratio[v] = vec![1.5];
            f.resumed_share[v] = vec![resumed_share];
            f.cpu_full_us[v] = vec![400.0];
            f.cpu_resumed_us[v] = vec![300.0];
        }
        f
    }

    #[test]
    fn a_terminator_that_does_not_resume_gets_no_resumed_figures() {
        let t = table(
            "ECDSA",
            &["naive-tls", "ferry", "peer"],
            &[figures(1.0), figures(1.0), figures(0.0)],
        );
        let line = |label: &str, nth: usize| {
            t.lines()
                .filter(|l| l.starts_with(&format!("| {label} |")))
                .nth(nth)
                .unwrap()
                .to_owned()
        };
        assert_eq!(
            line("TLS 1.3 resumed handshakes/s", 0),
            "| TLS 1.3 resumed handshakes/s | 150.00 | 150.00 | not resumed (0%) |"
        );
        assert_eq!(
            line("TLS 1.2 CPU per resumed connection (us)", 0),
            "| TLS 1.2 CPU per resumed connection (us) | 300.00 | 300.00 | not resumed (0%) |"
        );
        // Ratios against naive-tls, then against ferry.
        assert_eq!(
            line("TLS 1.3 resumed / full (x)", 1),
            "| TLS 1.3 resumed / full (x) | 1.00 | - |"
        );
        assert_eq!(
            line("TLS 1.3 resumed / full (x)", 2),
            "| TLS 1.3 resumed / full (x) | - |"
        );
        assert_eq!(
            line("TLS 1.3 full handshakes/s", 2),
            "| TLS 1.3 full handshakes/s | 1.00 |"
        );
        assert!(t.contains("ratios against ferry (x)"));
        assert_eq!(
            t.matches("| TLS 1.3 share of handshakes resumed (%) |")
                .count(),
            1
        );
    }
}
