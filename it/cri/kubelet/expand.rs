//! `$(VAR)` expansion as the kubelet's expansion package does it for env values, command and
//! args: `$$` is a literal `$`; `$(NAME)` is the value of an earlier variable, or stays as
//! written when there is none; an unclosed `$(` and a `$` before any other character are kept.
//!
//! The kubelet scans bytes and writes the byte after a lone `$` as a character of its own
//! (Latin-1), so a `$` followed by a non-ASCII character yields bytes that are not UTF-8;
//! its CRI call then fails to marshal, and [`expand`] reports an error instead.

use std::collections::HashMap;

/// The expansion produced bytes that are not UTF-8 (see the module documentation).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("expanding {0:?} gives invalid UTF-8 (a '$' before a non-ASCII character)")]
pub struct InvalidUtf8(pub String);

/// Expands `input` with the variables of `vars`.
pub fn expand(input: &str, vars: &HashMap<String, String>) -> Result<String, InvalidUtf8> {
    let bytes = input.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < bytes.len() {
        if bytes[cursor] == b'$' && cursor + 1 < bytes.len() {
            out.extend_from_slice(&bytes[checkpoint..cursor]);
            let rest = &bytes[cursor + 1..];
            let advance = match rest[0] {
                b'$' => {
                    out.push(b'$');
                    1
                }
                b'(' => match rest.iter().position(|&b| b == b')') {
                    Some(close) => {
                        // Slicing at ASCII bytes keeps UTF-8 boundaries.
                        let name = &input[cursor + 2..cursor + 1 + close];
                        match vars.get(name) {
                            Some(value) => out.extend_from_slice(value.as_bytes()),
                            None => out.extend_from_slice(format!("$({name})").as_bytes()),
                        }
                        close + 1
                    }
                    None => {
                        out.extend_from_slice(b"$(");
                        1
                    }
                },
                other => {
                    out.push(b'$');
                    // Go's string(byte): the byte as a code point, UTF-8 encoded.
                    let mut buf = [0; 2];
                    out.extend_from_slice(char::from(other).encode_utf8(&mut buf).as_bytes());
                    1
                }
            };
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    out.extend_from_slice(&bytes[checkpoint.min(bytes.len())..]);
    String::from_utf8(out).map_err(|_| InvalidUtf8(input.to_string()))
}
