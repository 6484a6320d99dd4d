//! Writing S3's XML documents, and reading the few that clients send.

use crate::s3::error::S3Error;
use quick_xml::events::Event;
use quick_xml::Reader;

pub const S3_NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// A small writer for S3's flat XML documents.
pub struct XmlWriter {
    out: String,
}

impl Default for XmlWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl XmlWriter {
    pub fn new() -> Self {
        XmlWriter {
            out: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
        }
    }

    /// Opens the root element, in the S3 namespace.
    pub fn root(&mut self, name: &str) {
        self.out.push_str(&format!("<{name} xmlns=\"{S3_NS}\">"));
    }

    pub fn open(&mut self, name: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
    }

    pub fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    pub fn elem(&mut self, name: &str, text: &str) {
        self.open(name);
        escape_into(&mut self.out, text);
        self.close(name);
    }

    /// `<name><ID>id</ID><DisplayName>id</DisplayName></name>`: owners and initiators,
    /// whose display name is their id here.
    pub fn owner(&mut self, name: &str, id: &str) {
        self.open(name);
        self.elem("ID", id);
        self.elem("DisplayName", id);
        self.close(name);
    }

    pub fn finish(self) -> String {
        self.out
    }
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are legal in keys but not as raw XML text.
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' => out.push_str(&format!("&#x{:X};", c as u32)),
            c => out.push(c),
        }
    }
}

/// `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"…"</ETag></Part>…`
pub fn parse_complete_upload(body: &[u8]) -> Result<Vec<(u32, String)>, S3Error> {
    let mut reader = Reader::from_reader(body);
    let mut parts = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let (mut number, mut etag): (Option<u32>, Option<String>) = (None, None);
    let mut saw_root = false;
    loop {
        match reader.read_event().map_err(|_| S3Error::MalformedXml)? {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if path.is_empty() {
                    if name != "CompleteMultipartUpload" {
                        return Err(S3Error::MalformedXml);
                    }
                    saw_root = true;
                }
                if name == "Part" {
                    number = None;
                    etag = None;
                }
                path.push(name);
            }
            Event::End(_) if path.pop().as_deref() == Some("Part") => match (number.take(), etag.take()) {
                (Some(n), Some(t)) => parts.push((n, t)),
                _ => return Err(S3Error::MalformedXml),
            },
            Event::Text(t) => {
                let text = t.unescape().map_err(|_| S3Error::MalformedXml)?.into_owned();
                match path.last().map(String::as_str) {
                    Some("PartNumber") if path.len() == 3 => {
                        number = Some(text.trim().parse().map_err(|_| S3Error::MalformedXml)?)
                    }
                    Some("ETag") if path.len() == 3 => etag = Some(text.trim().trim_matches('"').to_owned()),
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_root || !path.is_empty() {
        return Err(S3Error::MalformedXml);
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_parts_and_rejects_garbage() {
        let xml = br#"<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><ETag>"a1"</ETag><PartNumber>1</PartNumber></Part><Part><PartNumber>2</PartNumber><ETag>&quot;b2&quot;</ETag></Part></CompleteMultipartUpload>"#;
        assert_eq!(
            parse_complete_upload(xml).unwrap(),
            vec![(1, "a1".into()), (2, "b2".into())]
        );
        assert!(parse_complete_upload(b"<Foo/>").is_err());
        assert!(parse_complete_upload(b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber>").is_err());
        assert!(parse_complete_upload(b"not xml at all").is_err());
    }

    #[test]
    fn escapes_text() {
        let mut x = XmlWriter::new();
        x.elem("Key", "a<b>&\"c\u{1}");
        assert!(x.finish().ends_with("<Key>a&lt;b&gt;&amp;&quot;c&#x1;</Key>"));
    }
}
