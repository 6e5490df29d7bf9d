//! Parser for Downward-API volume files: one `key="value"` line per entry, the value quoted
//! the way Go's `strconv.Quote` does it (the kubelet writes them so).

use std::collections::BTreeMap;

/// A line that is not `key="value"`.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {why}")]
pub struct ParseError {
    pub line: usize,
    pub why: String,
}

/// Parses a whole file. Blank lines are skipped; a later duplicate key wins.
pub fn parse(text: &str) -> Result<BTreeMap<String, String>, ParseError> {
    let mut out = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let err = |why: &str| ParseError {
            line: i + 1,
            why: why.to_string(),
        };
        let (key, quoted) = raw.split_once('=').ok_or_else(|| err("no '='"))?;
        if key.is_empty() {
            return Err(err("empty key"));
        }
        let value = unquote(quoted).map_err(|why| err(&why))?;
        out.insert(key.to_string(), value);
    }
    Ok(out)
}

/// Undoes Go's `strconv.Quote`: `"..."` with `\a \b \f \n \r \t \v \\ \" \'`, `\xNN`,
/// `\NNN` (octal), `\uNNNN` and `\UNNNNNNNN` escapes.
fn unquote(s: &str) -> Result<String, String> {
    let inner = s
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .ok_or("value is not in double quotes")?;
    let mut bytes = Vec::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
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
            '\'' => Some(b'\''),
            _ => None,
        };
        if let Some(b) = simple {
            bytes.push(b);
            continue;
        }
        let mut take = |n: usize, radix: u32| -> Result<u32, String> {
            let digits: String = chars.by_ref().take(n).collect();
            if digits.len() != n {
                return Err(format!("short \\{esc} escape"));
            }
            u32::from_str_radix(&digits, radix).map_err(|_| format!("bad \\{esc} escape"))
        };
        match esc {
            'x' => bytes.push(take(2, 16)? as u8),
            '0'..='7' => {
                let rest = take(2, 8)?;
                let v = (esc as u32 - '0' as u32) * 64 + rest;
                bytes.push(u8::try_from(v).map_err(|_| "octal escape over 255")?);
            }
            'u' | 'U' => {
                let v = take(if esc == 'u' { 4 } else { 8 }, 16)?;
                let ch = char::from_u32(v).ok_or("escape is not a unicode scalar")?;
                let mut buf = [0; 4];
                bytes.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            other => return Err(format!("unknown escape \\{other}")),
        }
    }
    // \xNN escapes may spell bytes that are not UTF-8; keep what can be kept.
    Ok(String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn value_with_equals_sign() {
        let m = parse("k=\"a=b\"\n").unwrap();
        assert_eq!(m["k"], "a=b");
    }

    #[test]
    fn bad_lines_name_their_number() {
        assert_eq!(parse("a=\"1\"\nnoequals\n").unwrap_err().line, 2);
        assert!(parse("k=unquoted").is_err());
        assert!(parse("k=\"bad \\q\"").is_err());
        assert!(parse("k=\"short \\u12\"").is_err());
        assert!(parse("=\"v\"").is_err());
    }
}
