//! Reads and writes `server.properties`-style files (`key=value`, `#` comments).

use std::collections::BTreeMap;

/// Parses Java-properties text. Supports `=` or `:` separators, `#`/`!` comments and
/// trailing-backslash line continuations, which is what Kafka's own files use.
pub fn parse(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut pending = String::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        if pending.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with('!')) {
            continue;
        }
        if let Some(stripped) = line.strip_suffix('\\') {
            pending.push_str(stripped);
            continue;
        }
        pending.push_str(line);
        let entry = std::mem::take(&mut pending);
        let (k, v) = split_entry(&entry).ok_or_else(|| format!("line {}: expected key=value", n + 1))?;
        out.insert(k, v);
    }
    Ok(out)
}

/// Splits one `key=value` (or `key: value`) entry.
pub fn split_entry(entry: &str) -> Option<(String, String)> {
    let idx = entry.find(['=', ':'])?;
    let key = entry[..idx].trim();
    if key.is_empty() {
        return None;
    }
    Some((key.to_string(), entry[idx + 1..].trim().to_string()))
}

/// Renders entries as properties text, sorted by key.
pub fn render(entries: &BTreeMap<String, String>) -> String {
    entries.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kafka_style_file() {
        let p = parse("# c\nlog.dirs=/tmp/x\nnum.partitions : 3\n\nlisteners=PLAINTEXT://a:1,\\\n  PLAINTEXT://b:2\n").unwrap();
        assert_eq!(p["log.dirs"], "/tmp/x");
        assert_eq!(p["num.partitions"], "3");
        assert_eq!(p["listeners"], "PLAINTEXT://a:1,PLAINTEXT://b:2");
        assert!(parse("novalue\n").is_err());
        assert_eq!(parse(&render(&p)).unwrap(), p);
    }
}
