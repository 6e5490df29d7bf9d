//! Parser for Downward-API volume files (`metadata.labels`, `metadata.annotations`).
//!
//! The kubelet writes one `key="value"` line per entry, keys sorted, the value quoted the
//! way Go's `strconv.Quote` does it (`fmt.Sprintf("%v=%q\n", ...)`, last newline trimmed):
//! printable UTF-8 stays raw; `\a \b \f \n \r \t \v \\ \"` are escaped; other control
//! bytes and invalid UTF-8 become `\xNN`; other non-printable runes `\uNNNN` or
//! `\UNNNNNNNN`. A multi-line annotation is therefore still one line. The parser accepts
//! exactly what Go's `strconv.Unquote` accepts for a double-quoted string (which adds
//! `\NNN` octal escapes), and nothing else.

use std::collections::BTreeMap;

/// The longest piece of an offending line quoted in an error.
const QUOTED_LINE_CHARS: usize = 80;

/// A line that is not `key="value"`.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {why}: {text:?}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub why: String,
    /// The line itself, cut to its first 80 characters.
    pub text: String,
}

/// Parses a whole file. Blank lines are skipped; a later duplicate key wins.
pub fn parse(text: &str) -> Result<BTreeMap<String, String>, ParseError> {
    let mut out = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let err = |why: String| ParseError {
            line: i + 1,
            why,
            text: raw.chars().take(QUOTED_LINE_CHARS).collect(),
        };
        let (key, quoted) = raw
            .split_once('=')
            .ok_or_else(|| err("no '='".to_string()))?;
        if key.is_empty() {
            return Err(err("empty key".to_string()));
        }
        let value = unquote(quoted).map_err(err)?;
        out.insert(key.to_string(), value);
    }
    Ok(out)
}

/// Undoes Go's `strconv.Quote`, as `strconv.Unquote` does for a double-quoted string:
/// `\a \b \f \n \r \t \v \\ \"`, `\xNN`, `\NNN` (octal), `\uNNNN` and `\UNNNNNNNN`.
/// Bytes spelled with `\x` or octal that do not form UTF-8 become U+FFFD.
fn unquote(s: &str) -> Result<String, String> {
    let inner = s
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .ok_or("value is not in double quotes")?;
    let mut bytes = Vec::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Err("unescaped '\"' inside the value".to_string()),
            '\\' => {}
            _ => {
                push_char(&mut bytes, c);
                continue;
            }
        }
        let esc = chars.next().ok_or("dangling backslash")?;
        let simple = match esc {
            'a' => Some(7u8),
            'b' => Some(8),
            'f' => Some(12),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(11),
            '\\' => Some(b'\\'),
            '"' => Some(b'"'),
            _ => None,
        };
        if let Some(b) = simple {
            bytes.push(b);
            continue;
        }
        let mut digits = |n: usize, radix: u32| -> Result<u32, String> {
            let mut v = 0u32;
            for _ in 0..n {
                let d = chars
                    .next()
                    .and_then(|c| c.to_digit(radix))
                    .ok_or_else(|| format!("bad \\{esc} escape"))?;
                v = v * radix + d;
            }
            Ok(v)
        };
        match esc {
            'x' => bytes.push(digits(2, 16)? as u8),
            '0'..='7' => {
                let v = (esc as u32 - '0' as u32) * 64 + digits(2, 8)?;
                bytes.push(u8::try_from(v).map_err(|_| "octal escape over \\377")?);
            }
            'u' | 'U' => {
                let v = digits(if esc == 'u' { 4 } else { 8 }, 16)?;
                let ch = char::from_u32(v)
                    .ok_or_else(|| format!("\\{esc}{v:x} is not a unicode scalar value"))?;
                push_char(&mut bytes, ch);
            }
            other => return Err(format!("unknown escape \\{other}")),
        }
    }
    Ok(String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

fn push_char(bytes: &mut Vec<u8>, c: char) {
    let mut buf = [0; 4];
    bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go's `strconv.Quote`, for the characters these tests use: printable runes raw,
    /// the short escapes, `\x` below space and for DEL, `\u`/`\U` for other controls and
    /// separators.
    fn go_quote(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '\x07' => out.push_str("\\a"),
                '\x08' => out.push_str("\\b"),
                '\x0c' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\x0b' => out.push_str("\\v"),
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                c if (c as u32) < 0x20 || c == '\x7f' => {
                    out.push_str(&format!("\\x{:02x}", c as u32))
                }
                c if c.is_control() || (c.is_whitespace() && c != ' ') => {
                    if (c as u32) < 0x10000 {
                        out.push_str(&format!("\\u{:04x}", c as u32))
                    } else {
                        out.push_str(&format!("\\U{:08x}", c as u32))
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    /// What the kubelet's `fieldpath.FormatMap` writes for a map.
    fn kubelet_file(entries: &[(&str, &str)]) -> String {
        let mut sorted = entries.to_vec();
        sorted.sort();
        sorted
            .iter()
            .map(|(k, v)| format!("{k}={}", go_quote(v)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn plain_and_escaped_values() {
        let text = concat!(
            "app=\"shop\"\n",
            "app.kubernetes.io/name=\"web\"\n",
            "quote=\"say \\\"hi\\\"\"\n",
            "path=\"C:\\\\dir\"\n",
            "multi=\"line1\\nline2\\ttab\"\n",
            "unicode=\"caf\u{e9} \\u00e9 \\U0001f600\"\n",
            "hex=\"\\x41\\102\"\n",
            "\n",
            "empty=\"\"\n",
        );
        let m = parse(text).unwrap();
        assert_eq!(m["app"], "shop");
        assert_eq!(m["app.kubernetes.io/name"], "web");
        assert_eq!(m["quote"], "say \"hi\"");
        assert_eq!(m["path"], "C:\\dir");
        assert_eq!(m["multi"], "line1\nline2\ttab");
        assert_eq!(m["unicode"], "café é 😀");
        assert_eq!(m["hex"], "AB");
        assert_eq!(m["empty"], "");
        assert_eq!(m.len(), 8);
    }

    #[test]
    fn what_go_quote_writes_for_awkward_characters() {
        // strconv.Quote("\x00\x7f\xff\u00a0\u2028☺😀\a\b\f\r\v") in Go.
        let line = "k=\"\\x00\\x7f\\xff\\u00a0\\u2028☺😀\\a\\b\\f\\r\\v\"";
        let m = parse(line).unwrap();
        assert_eq!(m["k"], "\0\x7f\u{fffd}\u{a0}\u{2028}☺😀\x07\x08\x0c\r\x0b");
    }

    #[test]
    fn kubelet_files_round_trip() {
        let config = "{\n  \"apiVersion\": \"v1\",\n\t\"kind\": \"Pod\"\n}\n";
        let entries = [
            ("kubectl.kubernetes.io/last-applied-configuration", config),
            ("app", "shop"),
            ("note", "tab\there, back\\slash, \"quoted\", bell\x07"),
            ("i18n", "日本語 – ünïcödé 🚀"),
            ("ctl", "nul\0 del\x7f nbsp\u{a0} nel\u{85} ls\u{2028}"),
            ("empty", ""),
            ("eq", "a=b=c"),
        ];
        let text = kubelet_file(&entries);
        assert_eq!(text.lines().count(), entries.len(), "one line per entry");
        let m = parse(&text).unwrap();
        assert_eq!(m.len(), entries.len());
        for (k, v) in entries {
            assert_eq!(m[k], v, "{k}");
        }
        // The kubelet trims the last newline; a file with it parses the same.
        assert_eq!(parse(&format!("{text}\n")).unwrap(), m);
    }

    #[test]
    fn keys_come_back_sorted() {
        let m = parse("b=\"2\"\na=\"1\"\nc=\"3\"").unwrap();
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
        let m = parse("a=\"1\"\na=\"2\"").unwrap();
        assert_eq!(m["a"], "2", "a later duplicate wins");
    }

    #[test]
    fn value_with_equals_sign() {
        let m = parse("k=\"a=b\"\n").unwrap();
        assert_eq!(m["k"], "a=b");
    }

    #[test]
    fn bad_lines_name_their_number_and_text() {
        let e = parse("a=\"1\"\nnoequals\n").unwrap_err();
        assert_eq!((e.line, e.text.as_str()), (2, "noequals"));
        assert_eq!(e.to_string(), "line 2: no '=': \"noequals\"");
        let long = format!("k=\"{}", "x".repeat(500));
        assert_eq!(parse(&long).unwrap_err().text.len(), QUOTED_LINE_CHARS);
        for bad in [
            "k=unquoted",
            "k=\"open",
            "k=\"bad \\q\"",
            "k=\"short \\u12\"",
            "k=\"signed \\x+1\"",
            "k=\"signed \\u+123\"",
            "k=\"octal \\400\"",
            "k=\"octal \\08\"",
            "k=\"surrogate \\ud800\"",
            "k=\"beyond \\U00110000\"",
            "k=\"single \\' quote\"",
            "k=\"raw \" quote\"",
            "k=\"dangling \\\"",
            "=\"v\"",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
