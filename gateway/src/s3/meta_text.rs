//! User metadata (`x-amz-meta-*`) values as S3 carries them: header bytes are not
//! UTF-8 text to every client (Python's http.client reads and writes them as
//! ISO-8859-1), so S3 stores the text a value means and returns a non-ASCII value as an
//! RFC 2047 encoded word, which every client reads back losslessly.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// The text a header value means: an RFC 2047 encoded word decoded; UTF-8 as is; other
/// bytes as ISO-8859-1 (what Python clients send for a non-ASCII `str`).
pub fn decode(bytes: &[u8]) -> String {
    let latin1 = || bytes.iter().map(|b| char::from(*b)).collect();
    match std::str::from_utf8(bytes) {
        Ok(s) => encoded_word(s.trim()).unwrap_or_else(|| s.to_owned()),
        Err(_) => latin1(),
    }
}

/// The header value for stored text: ASCII as is, anything else as an RFC 2047
/// encoded word (`=?UTF-8?B?...?=`), as S3 answers.
pub fn encode(text: &str) -> String {
    if text.is_ascii() {
        text.to_owned()
    } else {
        format!("=?UTF-8?B?{}?=", STANDARD.encode(text))
    }
}

/// Decodes `=?charset?B|Q?data?=` for the charsets S3 clients use.
fn encoded_word(s: &str) -> Option<String> {
    let inner = s.strip_prefix("=?")?.strip_suffix("?=")?;
    let mut it = inner.splitn(3, '?');
    let (charset, encoding, data) = (it.next()?, it.next()?, it.next()?);
    let bytes = match encoding {
        "B" | "b" => STANDARD.decode(data).ok()?,
        "Q" | "q" => quoted(data)?,
        _ => return None,
    };
    match charset.to_ascii_uppercase().as_str() {
        "UTF-8" => String::from_utf8(bytes).ok(),
        "ISO-8859-1" | "US-ASCII" => Some(bytes.iter().map(|b| char::from(*b)).collect()),
        _ => None,
    }
}

/// RFC 2047's Q encoding: `_` is a space, `=XX` a byte.
fn quoted(data: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len());
    let mut bytes = data.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'_' => out.push(b' '),
            b'=' => {
                let hex = [bytes.next()?, bytes.next()?];
                out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
            }
            b => out.push(b),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_as_s3_carries_them() {
        assert_eq!(decode("café".as_bytes()), "café");
        assert_eq!(decode(b"caf\xe9"), "café", "Python sends ISO-8859-1");
        assert_eq!(decode(b"=?UTF-8?B?Y2Fmw6k=?="), "café");
        assert_eq!(decode(b"=?utf-8?Q?caf=C3=A9_au_lait?="), "café au lait");
        assert_eq!(decode(b"=?ISO-8859-1?Q?caf=E9?="), "café");
        assert_eq!(decode(b"=?UTF-8?X?nope?="), "=?UTF-8?X?nope?=");
        assert_eq!(decode(b"plain"), "plain");
        assert_eq!(encode("plain ascii"), "plain ascii");
        assert_eq!(encode("café"), "=?UTF-8?B?Y2Fmw6k=?=");
        for text in ["café", "日本語 ✓", "a=?b?=c", ""] {
            assert_eq!(decode(encode(text).as_bytes()), text);
        }
    }
}
