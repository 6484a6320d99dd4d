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

    /// Markup the writer has no method for (an element with attributes); the caller
    /// writes it well-formed.
    pub fn raw(&mut self, markup: &str) {
        self.out.push_str(markup);
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

/// An element of a parsed request document: name (namespace dropped), text, children.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The trimmed text of a child element.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }
}

/// Parses a request document whose root must be `root`. Anything that is not
/// well-formed XML with that root is MalformedXML.
pub fn parse(body: &[u8], root: &str) -> Result<Element, S3Error> {
    let mut reader = Reader::from_reader(body);
    let mut stack: Vec<Element> = Vec::new();
    let mut done: Option<Element> = None;
    loop {
        match reader.read_event().map_err(|_| S3Error::MalformedXml)? {
            Event::Start(e) => {
                if done.is_some() {
                    return Err(S3Error::MalformedXml);
                }
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                stack.push(Element {
                    name,
                    ..Default::default()
                });
            }
            Event::Empty(e) => {
                let el = Element {
                    name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                    ..Default::default()
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None if done.is_none() => done = Some(el),
                    None => return Err(S3Error::MalformedXml),
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or(S3Error::MalformedXml)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => done = Some(el),
                }
            }
            Event::Text(t) => {
                if let Some(el) = stack.last_mut() {
                    el.text.push_str(&t.unescape().map_err(|_| S3Error::MalformedXml)?);
                }
            }
            Event::CData(t) => {
                if let Some(el) = stack.last_mut() {
                    el.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    match done {
        Some(el) if stack.is_empty() && el.name == root => Ok(el),
        _ => Err(S3Error::MalformedXml),
    }
}

/// `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"…"</ETag></Part>…`
pub fn parse_complete_upload(body: &[u8]) -> Result<Vec<(u32, String)>, S3Error> {
    let doc = parse(body, "CompleteMultipartUpload")?;
    doc.all("Part")
        .map(|p| {
            let n = p
                .text_of("PartNumber")
                .and_then(|n| n.parse().ok())
                .ok_or(S3Error::MalformedXml)?;
            let etag = p.text_of("ETag").ok_or(S3Error::MalformedXml)?;
            Ok((n, etag.trim_matches('"').to_owned()))
        })
        .collect()
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
        assert!(parse_complete_upload(b"<CompleteMultipartUpload></CompleteMultipartUpload><Extra/>").is_err());
        assert_eq!(parse_complete_upload(b"<CompleteMultipartUpload/>").unwrap(), vec![]);
    }

    #[test]
    fn escapes_text() {
        let mut x = XmlWriter::new();
        x.elem("Key", "a<b>&\"c\u{1}");
        assert!(x.finish().ends_with("<Key>a&lt;b&gt;&amp;&quot;c&#x1;</Key>"));
    }
}
