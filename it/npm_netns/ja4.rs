//! JA4 of a TLS ClientHello (FoxIO's JA4 specification, `technical_details/JA4.md`), from
//! the values tshark dissected: the test's own reckoning, to hold podflow's against.

/// What JA4 reads of a ClientHello, every list in the order of the message.
#[derive(Clone, Debug, Default)]
pub struct ClientHello {
    pub legacy_version: u16,
    pub ciphers: Vec<u16>,
    pub extensions: Vec<u16>,
    pub supported_versions: Vec<u16>,
    pub alpn: Vec<String>,
    /// The signature_algorithms extension's list.
    pub signature_algorithms: Vec<u16>,
}

/// RFC 8701's reserved values: 0x?a?a with both bytes equal.
fn grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

impl ClientHello {
    /// The highest version offered: supported_versions without GREASE when sent, else the
    /// legacy version.
    pub fn highest_version(&self) -> u16 {
        match self
            .supported_versions
            .iter()
            .filter(|v| !grease(**v))
            .max()
        {
            Some(v) if self.extensions.contains(&43) => *v,
            _ => self.legacy_version,
        }
    }
}

fn version_code(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

/// First and last character of the first ALPN value; their hex digits when either is not
/// an ASCII letter or digit; "00" without one.
fn alpn_code(alpn: &[String]) -> String {
    let Some(first) = alpn.first().map(|s| s.as_bytes()).filter(|b| !b.is_empty()) else {
        return "00".into();
    };
    let (a, z) = (first[0], first[first.len() - 1]);
    if a.is_ascii_alphanumeric() && z.is_ascii_alphanumeric() {
        format!("{}{}", a as char, z as char)
    } else {
        let hex = format!("{a:02x}{z:02x}");
        format!("{}{}", &hex[..1], &hex[3..])
    }
}

/// The first 12 hex digits of the SHA-256 of `text`; twelve zeros for an empty list.
fn hash12(text: &str) -> String {
    if text.is_empty() {
        return "000000000000".into();
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    digest.as_ref()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn hex_list(values: impl Iterator<Item = u16>) -> String {
    values
        .map(|v| format!("{v:04x}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// JA4 of a ClientHello over TCP.
pub fn ja4(hello: &ClientHello) -> String {
    let ciphers: Vec<u16> = hello
        .ciphers
        .iter()
        .copied()
        .filter(|v| !grease(*v))
        .collect();
    let extensions: Vec<u16> = hello
        .extensions
        .iter()
        .copied()
        .filter(|v| !grease(*v))
        .collect();
    let a = format!(
        "t{}{}{:02}{:02}{}",
        version_code(hello.highest_version()),
        if extensions.contains(&0) { 'd' } else { 'i' },
        ciphers.len().min(99),
        extensions.len().min(99),
        alpn_code(&hello.alpn)
    );
    let mut sorted_ciphers = ciphers;
    sorted_ciphers.sort_unstable();
    let mut sorted_extensions: Vec<u16> = extensions
        .into_iter()
        .filter(|v| *v != 0 && *v != 16)
        .collect();
    sorted_extensions.sort_unstable();
    let mut c = hex_list(sorted_extensions.into_iter());
    let algorithms: Vec<u16> = hello
        .signature_algorithms
        .iter()
        .copied()
        .filter(|v| !grease(*v))
        .collect();
    if !c.is_empty() && !algorithms.is_empty() {
        c = format!("{c}_{}", hex_list(algorithms.into_iter()));
    }
    format!(
        "{a}_{}_{}",
        hash12(&hex_list(sorted_ciphers.into_iter())),
        hash12(&c)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of the specification (a browser's ClientHello, GREASE added
    /// here to be left out).
    #[test]
    fn the_specifications_example() {
        let hex = |s: &str| -> Vec<u16> {
            s.split(',')
                .map(|v| u16::from_str_radix(v, 16).unwrap())
                .collect()
        };
        let hello = ClientHello {
            legacy_version: 0x0303,
            ciphers: hex("1a1a,1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035"),
            extensions: hex("2a2a,001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,0015"),
            supported_versions: hex("3a3a,0304,0303"),
            alpn: vec!["h2".into(), "http/1.1".into()],
            signature_algorithms: hex("0403,0804,0401,0503,0805,0501,0806,0601"),
        };
        assert_eq!(ja4(&hello), "t13d1516h2_8daaf6152771_e5627efa2ab1");
        let bare = ClientHello {
            signature_algorithms: vec![],
            ..hello.clone()
        };
        assert_eq!(ja4(&bare), "t13d1516h2_8daaf6152771_6d807ffa2a79");
    }

    #[test]
    fn alpn_values_that_are_not_alphanumeric_give_hex_digits() {
        let code = |b: &[u8]| alpn_code(&[String::from_utf8_lossy(b).into_owned()]);
        assert_eq!(code(b"http/1.1"), "h1");
        assert_eq!(code(b"h"), "hh");
        assert_eq!(code(b" a"), "21");
        assert_eq!(code(b"a "), "60");
        assert_eq!(alpn_code(&[]), "00");
    }
}
