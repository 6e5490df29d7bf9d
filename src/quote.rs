//! Values from outside (an annotation, a name in a request or a manifest) quoted in a
//! warning or a log line, cut to a bounded length. An annotation may hold 256 KiB; a
//! message that repeats it whole would flood `kubectl` and the logs.
#![forbid(unsafe_code)]

use std::fmt;

/// How many characters of a value are quoted at most.
pub const MAX_QUOTED_CHARS: usize = 64;

/// A value as it is quoted in messages: `"short value"`, or the first
/// [`MAX_QUOTED_CHARS`] characters and how long the value was:
/// `"aaaa..."... (300000 bytes)`. Control characters and quotes are escaped as Rust's
/// `{:?}` writes them, so a value cannot forge a line of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quoted<'a>(&'a str);

/// Quotes `value` for a message, cut to [`MAX_QUOTED_CHARS`] characters.
pub fn quote(value: &str) -> Quoted<'_> {
    Quoted(value)
}

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = self.0;
        match value.char_indices().nth(MAX_QUOTED_CHARS) {
            None => write!(f, "{value:?}"),
            Some((cut, _)) => write!(f, "{:?}... ({} bytes)", &value[..cut], value.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_quoted_whole() {
        assert_eq!(quote("").to_string(), r#""""#);
        assert_eq!(quote("yes").to_string(), r#""yes""#);
        let exact = "x".repeat(MAX_QUOTED_CHARS);
        assert_eq!(quote(&exact).to_string(), format!("\"{exact}\""));
    }

    #[test]
    fn long_values_are_cut_and_say_their_length() {
        let long = "a".repeat(256 * 1024);
        let q = quote(&long).to_string();
        assert_eq!(
            q,
            format!("\"{}\"... (262144 bytes)", "a".repeat(MAX_QUOTED_CHARS))
        );
        assert!(q.len() < 100, "{q}");
    }

    #[test]
    fn cuts_on_a_character_boundary() {
        // 65 characters of two bytes each: the cut falls after the 64th, not in one.
        let long = "é".repeat(MAX_QUOTED_CHARS + 1);
        let q = quote(&long).to_string();
        assert_eq!(
            q,
            format!("\"{}\"... (130 bytes)", "é".repeat(MAX_QUOTED_CHARS))
        );
    }

    #[test]
    fn line_breaks_and_quotes_are_escaped() {
        assert_eq!(quote("a\"b\nc").to_string(), r#""a\"b\nc""#);
        let long = format!("{}\n{}", "x".repeat(10), "y".repeat(100));
        let q = quote(&long).to_string();
        assert!(!q.contains('\n'), "{q}");
        assert!(q.starts_with("\"xxxxxxxxxx\\nyyy"), "{q}");
    }
}
