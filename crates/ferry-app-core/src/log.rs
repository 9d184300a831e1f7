//! The log line format every program takes, from `--log-format` or `log_format` in its config
//! file (the flag wins).

use std::path::Path;
use std::str::FromStr;

/// How log lines are written. Default [`LogFormat::Text`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields` (the message and
    /// every field, the access-log fields included).
    Json,
}

impl LogFormat {
    /// `text` or `json`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Json => "json",
        }
    }
}

impl std::fmt::Display for LogFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("{other:?} is not a log format (text or json)")),
        }
    }
}

/// The top-level `log_format` of the TOML config file at `path`, read before logging is set
/// up (so that even the first lines have the format asked for). `None` when the file has no
/// such key, cannot be read or is not valid TOML: the program then reports the problem itself
/// when it loads the file.
#[must_use]
pub fn format_in_file(path: &Path) -> Option<LogFormat> {
    let text = std::fs::read_to_string(path).ok()?;
    let table: toml::Table = text.parse().ok()?;
    table.get("log_format")?.as_str()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn parses_names_and_peeks_files() {
        assert_eq!("json".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert_eq!("text".parse::<LogFormat>(), Ok(LogFormat::Text));
        assert!("JSON".parse::<LogFormat>().is_err());
        let dir = std::env::temp_dir().join(format!("ferry-log-format-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let with = dir.join("with.toml");
        std::fs::write(&with, "log_format = \"json\"\n[x]\ny = 1\n").unwrap();
        assert_eq!(format_in_file(&with), Some(LogFormat::Json));
        let without = dir.join("without.toml");
        std::fs::write(&without, "[log]\nlog_format = \"json\"\n").unwrap();
        assert_eq!(
            format_in_file(&without),
            None,
            "only the top-level key counts"
        );
        std::fs::write(&without, "not toml [").unwrap();
        assert_eq!(format_in_file(&without), None);
        assert_eq!(format_in_file(&dir.join("missing.toml")), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
