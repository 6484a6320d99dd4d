//! Bucket policies: the JSON policy language real policies use, checked when a policy is
//! put (anything Strata cannot enforce is refused with MalformedPolicy naming the part)
//! and evaluated for a request.

use crate::s3::error::{S3Error, S3Result};
use serde_json::{Map, Value};
use std::net::IpAddr;

/// S3's limit on a bucket policy's size.
pub const MAX_POLICY_BYTES: usize = 20 * 1024;

/// Condition keys Strata fills from a request; a policy naming another is refused.
const KEYS: &[&str] = &[
    "aws:SourceIp",
    "aws:SecureTransport",
    "aws:Referer",
    "aws:UserAgent",
    "aws:username",
    "aws:userid",
    "aws:PrincipalType",
    "s3:prefix",
    "s3:delimiter",
    "s3:max-keys",
    "s3:x-amz-acl",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq)]
enum Principals {
    Anyone,
    /// Strata users, by name.
    Users(Vec<String>),
}

/// `Action` or `NotAction` (and the same for resources): patterns, maybe negated.
#[derive(Debug, Clone, PartialEq)]
struct Patterns {
    negated: bool,
    patterns: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Test {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Ip,
    Bool,
    NumericEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    Null,
}

#[derive(Debug, Clone, PartialEq)]
struct Condition {
    test: Test,
    /// The operator's `Not` form: true when no value matches.
    negated: bool,
    /// `...IfExists`: true when the request has no value for the key.
    if_exists: bool,
    key: &'static str,
    values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
struct Statement {
    effect: Effect,
    principals: Principals,
    actions: Patterns,
    resources: Patterns,
    conditions: Vec<Condition>,
}

/// A checked bucket policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    statements: Vec<Statement>,
}

/// What a request is, as a policy sees it.
pub struct Request<'a> {
    /// The signed-in user; `None` for an anonymous request.
    pub principal: Option<&'a str>,
    pub action: &'a str,
    /// `arn:aws:s3:::bucket` or `arn:aws:s3:::bucket/key`.
    pub resource: &'a str,
    /// The request's value for a condition key (as named in [`KEYS`]).
    pub value: &'a dyn Fn(&str) -> Option<String>,
}

fn malformed(what: impl Into<String>) -> S3Error {
    S3Error::MalformedPolicy(what.into())
}

/// A JSON string or array of strings (and, for condition values, booleans and numbers).
fn strings(v: &Value, what: &str) -> S3Result<Vec<String>> {
    let one = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(malformed(format!("{what} must be a string or a list of strings"))),
    };
    match v {
        Value::Array(items) if !items.is_empty() => items.iter().map(one).collect(),
        Value::Array(_) => Err(malformed(format!("{what} must not be empty"))),
        v => Ok(vec![one(v)?]),
    }
}

/// `*` matches any run of characters, `?` any one, as in policy patterns.
pub fn glob(pattern: &str, value: &str, ignore_case: bool) -> bool {
    let eq = |a: char, b: char| {
        if ignore_case {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let (p, v): (Vec<char>, Vec<char>) = (pattern.chars().collect(), value.chars().collect());
    // Iterative match with backtracking to the last `*`.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < v.len() {
        if i < p.len() && (p[i] == '?' || (p[i] != '*' && eq(p[i], v[j]))) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

fn principals(v: &Value) -> S3Result<Principals> {
    let invalid = || malformed("Invalid principal in policy");
    match v {
        Value::String(s) if s == "*" => Ok(Principals::Anyone),
        Value::Object(m) if !m.is_empty() => {
            let mut users = Vec::new();
            for (kind, ids) in m {
                for id in strings(ids, "Principal").map_err(|_| invalid())? {
                    match (kind.as_str(), id.as_str()) {
                        ("AWS", "*") => return Ok(Principals::Anyone),
                        ("AWS", arn) => users.push(user_of_arn(arn).ok_or_else(invalid)?),
                        ("CanonicalUser", name) if !name.is_empty() => users.push(name.to_owned()),
                        _ => return Err(invalid()),
                    }
                }
            }
            Ok(Principals::Users(users))
        }
        _ => Err(invalid()),
    }
}

/// The Strata user an IAM ARN names: `arn:aws:iam::<account>:user/<name>`, or
/// `arn:aws:iam::<name>:root` (each Strata user is its own account).
fn user_of_arn(arn: &str) -> Option<String> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (account, what) = rest.split_once(':')?;
    let name = match what {
        "root" => account,
        w => w.strip_prefix("user/")?,
    };
    (!name.is_empty() && !name.contains(['*', '?'])).then(|| name.to_owned())
}

fn patterns(st: &Map<String, Value>, name: &str, check: impl Fn(&str) -> bool) -> S3Result<Patterns> {
    let not = format!("Not{name}");
    let (negated, v) = match (st.get(name), st.get(&not)) {
        (Some(v), None) => (false, v),
        (None, Some(v)) => (true, v),
        (Some(_), Some(_)) => return Err(malformed(format!("A statement may not hold both {name} and {not}"))),
        (None, None) => return Err(malformed(format!("Missing required field {name}"))),
    };
    let patterns = strings(v, name)?;
    if let Some(bad) = patterns.iter().find(|p| !check(p)) {
        return Err(malformed(format!("Policy has invalid {}: {bad}", name.to_lowercase())));
    }
    Ok(Patterns { negated, patterns })
}

fn valid_action(a: &str) -> bool {
    a == "*"
        || a.strip_prefix("s3:")
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '?'))
}

fn valid_resource(r: &str, bucket: &str) -> bool {
    let Some(path) = r.strip_prefix("arn:aws:s3:::") else {
        return r == "*";
    };
    let named = path.split_once('/').map_or(path, |(b, _)| b);
    glob(named, bucket, false)
}

fn parse_ip_range(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, bits) = match s.split_once('/') {
        Some((a, b)) => (a.parse::<IpAddr>().ok()?, b.parse::<u8>().ok()?),
        None => {
            let a = s.parse::<IpAddr>().ok()?;
            (a, if a.is_ipv4() { 32 } else { 128 })
        }
    };
    (bits <= if addr.is_ipv4() { 32 } else { 128 }).then_some((addr, bits))
}

/// Whether a `aws:SourceIp` range names some networks rather than much of the Internet
/// (`0.0.0.0/0` does not limit anyone): at least a /8 for IPv4, a /32 for IPv6.
fn narrow_ip_range(range: &str) -> bool {
    parse_ip_range(range).is_some_and(|(addr, bits)| bits >= if addr.is_ipv4() { 8 } else { 32 })
}

fn in_range(ip: IpAddr, range: &str) -> bool {
    let Some((net, bits)) = parse_ip_range(range) else {
        return false;
    };
    let as_u128 = |a: IpAddr| match a {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32u32),
        IpAddr::V6(v6) => (u128::from(v6), 128u32),
    };
    // An IPv4 client reaching an IPv6 socket appears mapped; judge it as IPv4.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    let ((a, width), (n, net_width)) = (as_u128(ip), as_u128(net));
    if width != net_width {
        return false;
    }
    let shift = width - u32::from(bits);
    shift >= width || (a >> shift) == (n >> shift)
}

fn operator(name: &str) -> S3Result<(Test, bool, bool)> {
    if name.contains(':') {
        return Err(malformed(format!(
            "Strata does not support the condition set operator {name}"
        )));
    }
    let (base, if_exists) = match name.strip_suffix("IfExists") {
        Some(b) => (b, true),
        None => (name, false),
    };
    let (test, negated) = match base {
        "StringEquals" => (Test::StringEquals, false),
        "StringNotEquals" => (Test::StringEquals, true),
        "StringEqualsIgnoreCase" => (Test::StringEqualsIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (Test::StringEqualsIgnoreCase, true),
        "StringLike" => (Test::StringLike, false),
        "StringNotLike" => (Test::StringLike, true),
        "IpAddress" => (Test::Ip, false),
        "NotIpAddress" => (Test::Ip, true),
        "Bool" => (Test::Bool, false),
        "NumericEquals" => (Test::NumericEquals, false),
        "NumericNotEquals" => (Test::NumericEquals, true),
        "NumericLessThan" => (Test::NumericLessThan, false),
        "NumericLessThanEquals" => (Test::NumericLessThanEquals, false),
        "NumericGreaterThan" => (Test::NumericGreaterThan, false),
        "NumericGreaterThanEquals" => (Test::NumericGreaterThanEquals, false),
        "Null" if !if_exists => (Test::Null, false),
        _ => {
            return Err(malformed(format!(
                "Strata does not support the condition operator {name}"
            )))
        }
    };
    Ok((test, negated, if_exists))
}

fn conditions(v: Option<&Value>) -> S3Result<Vec<Condition>> {
    let Some(v) = v else { return Ok(Vec::new()) };
    let ops = v.as_object().ok_or_else(|| malformed("Condition must be an object"))?;
    let mut out = Vec::new();
    for (op, block) in ops {
        let (test, negated, if_exists) = operator(op)?;
        let block = block
            .as_object()
            .ok_or_else(|| malformed(format!("Condition {op} must be an object")))?;
        for (key, values) in block {
            let key = KEYS
                .iter()
                .find(|k| k.eq_ignore_ascii_case(key))
                .ok_or_else(|| malformed(format!("Strata does not support the condition key {key}")))?;
            let values = strings(values, "Condition values")?;
            let bad = |v: &String| match test {
                Test::Ip => parse_ip_range(v).is_none(),
                Test::Bool | Test::Null => v != "true" && v != "false",
                Test::NumericEquals
                | Test::NumericLessThan
                | Test::NumericLessThanEquals
                | Test::NumericGreaterThan
                | Test::NumericGreaterThanEquals => v.parse::<f64>().is_err(),
                _ => false,
            };
            if let Some(v) = values.iter().find(|v| bad(v)) {
                return Err(malformed(format!("Invalid value {v} for {op} on {key}")));
            }
            out.push(Condition {
                test,
                negated,
                if_exists,
                key,
                values,
            });
        }
    }
    Ok(out)
}

fn statement(v: &Value, bucket: &str) -> S3Result<Statement> {
    let st = v
        .as_object()
        .ok_or_else(|| malformed("A statement must be an object"))?;
    const FIELDS: &[&str] = &[
        "Sid",
        "Effect",
        "Principal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
    ];
    if let Some(f) = st.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(malformed(format!("Strata does not support the statement field {f}")));
    }
    let effect = match st.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        _ => return Err(malformed("Invalid effect: Effect must be Allow or Deny")),
    };
    let principals = principals(
        st.get("Principal")
            .ok_or_else(|| malformed("Missing required field Principal"))?,
    )?;
    Ok(Statement {
        effect,
        principals,
        actions: patterns(st, "Action", valid_action)?,
        resources: patterns(st, "Resource", |r| valid_resource(r, bucket))?,
        conditions: conditions(st.get("Condition"))?,
    })
}

impl Policy {
    /// Checks a policy document put on `bucket`.
    pub fn parse(text: &[u8], bucket: &str) -> S3Result<Policy> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(malformed("Policy exceeds the maximum allowed document size."));
        }
        let doc: Value =
            serde_json::from_slice(text).map_err(|e| malformed(format!("Policies must be valid JSON: {e}")))?;
        let doc = doc
            .as_object()
            .ok_or_else(|| malformed("Policies must be valid JSON and the first byte must be '{'"))?;
        if let Some(f) = doc
            .keys()
            .find(|k| !["Version", "Id", "Statement"].contains(&k.as_str()))
        {
            return Err(malformed(format!("Unknown field {f}")));
        }
        match doc.get("Version").map(|v| v.as_str()) {
            None | Some(Some("2012-10-17" | "2008-10-17")) => {}
            _ => return Err(malformed("The policy must contain a valid version string")),
        }
        let statements = match doc.get("Statement") {
            Some(Value::Array(list)) if !list.is_empty() => list.iter().map(|s| statement(s, bucket)).collect(),
            Some(one @ Value::Object(_)) => statement(one, bucket).map(|s| vec![s]),
            _ => Err(malformed("Missing required field Statement")),
        }?;
        Ok(Policy { statements })
    }

    /// What the policy says of a request: Deny if any matching statement denies, else
    /// Allow if any allows, else nothing.
    pub fn decide(&self, req: &Request) -> Option<Effect> {
        let mut verdict = None;
        for s in self.statements.iter().filter(|s| s.matches(req)) {
            if s.effect == Effect::Deny {
                return Some(Effect::Deny);
            }
            verdict = Some(Effect::Allow);
        }
        verdict
    }

    /// Whether the policy grants anything to anyone at all (anonymous included) without
    /// a condition that pins who they are or where they come from.
    pub fn is_public(&self) -> bool {
        self.statements.iter().any(Statement::is_public)
    }
}

impl Statement {
    fn is_public(&self) -> bool {
        let pinned = self.conditions.iter().any(|c| {
            !c.negated
                && !c.if_exists
                && ((c.test == Test::Ip && c.key == "aws:SourceIp" && c.values.iter().all(|v| narrow_ip_range(v)))
                    || (c.test == Test::StringEquals && ["aws:username", "aws:userid"].contains(&c.key)))
        });
        self.effect == Effect::Allow && self.principals == Principals::Anyone && !pinned
    }

    fn matches(&self, req: &Request) -> bool {
        let principal = match &self.principals {
            Principals::Anyone => true,
            Principals::Users(names) => req.principal.is_some_and(|p| names.iter().any(|n| n == p)),
        };
        let any = |p: &Patterns, value: &str, ignore_case: bool| {
            p.negated != p.patterns.iter().any(|pat| glob(pat, value, ignore_case))
        };
        principal
            && any(&self.actions, req.action, true)
            && any(&self.resources, req.resource, false)
            && self.conditions.iter().all(|c| c.holds(req))
    }
}

impl Condition {
    fn holds(&self, req: &Request) -> bool {
        let got = (req.value)(self.key);
        if self.test == Test::Null {
            // `Null: true` asks that the key be absent.
            return self.values.iter().any(|v| (v == "true") == got.is_none());
        }
        let Some(got) = got else {
            // AWS: a missing key matches no value; the Not forms then hold.
            return self.if_exists || self.negated;
        };
        let num = |s: &str| s.parse::<f64>().ok();
        let one = |want: &String| match self.test {
            Test::StringEquals => got == *want,
            Test::StringEqualsIgnoreCase => got.eq_ignore_ascii_case(want),
            Test::StringLike => glob(want, &got, false),
            Test::Ip => got.parse::<IpAddr>().is_ok_and(|ip| in_range(ip, want)),
            Test::Bool => got.eq_ignore_ascii_case(want),
            Test::Null => unreachable!("handled above"),
            numeric => match (num(&got), num(want)) {
                (Some(g), Some(w)) => match numeric {
                    Test::NumericEquals => g == w,
                    Test::NumericLessThan => g < w,
                    Test::NumericLessThanEquals => g <= w,
                    Test::NumericGreaterThan => g > w,
                    _ => g >= w,
                },
                _ => false,
            },
        };
        self.negated != self.values.iter().any(one)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(p: &Policy, who: Option<&str>, action: &str, resource: &str, facts: &[(&str, &str)]) -> Option<Effect> {
        let value = |k: &str| facts.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        p.decide(&Request {
            principal: who,
            action,
            resource,
            value: &value,
        })
    }

    #[test]
    fn globs() {
        assert!(glob("s3:Get*", "s3:getobject", true));
        assert!(!glob("s3:Get*", "s3:getobject", false));
        assert!(glob("arn:aws:s3:::b/public/*", "arn:aws:s3:::b/public/a/b", false));
        assert!(!glob("arn:aws:s3:::b/public/*", "arn:aws:s3:::b/private/a", false));
        assert!(glob("a?c*", "abcdef", false));
        assert!(glob("*", "", false));
        assert!(!glob("a*b*c", "aXbY", false));
    }

    #[test]
    fn a_public_prefix_with_a_deny() {
        let p = Policy::parse(
            br#"{"Version":"2012-10-17","Statement":[
                {"Sid":"pub","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/public/*"},
                {"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::123:user/bob"]},"Action":["s3:List*","s3:GetObject"],
                 "Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"],"Condition":{"StringLike":{"s3:prefix":["shared/*",""]}}},
                {"Effect":"Deny","Principal":"*","NotAction":"s3:GetObject","Resource":"arn:aws:s3:::b/public/*",
                 "Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}"#,
            "b",
        )
        .unwrap();
        assert!(p.is_public());
        let obj = "arn:aws:s3:::b/public/x";
        assert_eq!(ask(&p, None, "s3:GetObject", obj, &[]), Some(Effect::Allow));
        assert_eq!(ask(&p, None, "s3:GetObject", "arn:aws:s3:::b/secret", &[]), None);
        assert_eq!(
            ask(
                &p,
                Some("bob"),
                "s3:ListBucket",
                "arn:aws:s3:::b",
                &[("s3:prefix", "shared/x")]
            ),
            Some(Effect::Allow)
        );
        assert_eq!(
            ask(
                &p,
                Some("bob"),
                "s3:ListBucket",
                "arn:aws:s3:::b",
                &[("s3:prefix", "other/")]
            ),
            None
        );
        // A missing key matches no value of StringLike.
        assert_eq!(ask(&p, Some("eve"), "s3:ListBucket", "arn:aws:s3:::b", &[]), None);
        let outside = [("aws:SourceIp", "192.0.2.1")];
        assert_eq!(ask(&p, Some("bob"), "s3:PutObject", obj, &outside), Some(Effect::Deny));
        let inside = [("aws:SourceIp", "10.1.2.3")];
        assert_eq!(ask(&p, Some("bob"), "s3:PutObject", obj, &inside), None);
        let mapped = [("aws:SourceIp", "::ffff:10.1.2.3")];
        assert_eq!(ask(&p, Some("bob"), "s3:PutObject", obj, &mapped), None);
    }

    /// A condition on the source address keeps a policy private only if it names some
    /// networks: one that lets in every address is public (Block Public Access
    /// refuses it).
    #[test]
    fn a_source_ip_condition_that_admits_everyone_is_public() {
        let with = |range: &str| {
            let doc = format!(
                r#"{{"Statement":{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*",
                     "Condition":{{"IpAddress":{{"aws:SourceIp":["10.0.0.0/8","{range}"]}}}}}}}}"#
            );
            Policy::parse(doc.as_bytes(), "b").unwrap()
        };
        assert!(!with("192.0.2.0/24").is_public());
        assert!(!with("2001:db8::/32").is_public());
        for everyone in ["0.0.0.0/0", "0.0.0.0/1", "::/0", "2000::/3"] {
            assert!(with(everyone).is_public(), "{everyone}");
        }
    }

    #[test]
    fn conditions_on_transport_and_numbers() {
        let p = Policy::parse(
            br#"{"Statement":{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"s3:*","Resource":"arn:aws:s3:::b/*",
                 "Condition":{"Bool":{"aws:SecureTransport":false}}}}"#,
            "b",
        )
        .unwrap();
        assert!(!p.is_public());
        let r = "arn:aws:s3:::b/k";
        assert_eq!(
            ask(&p, None, "s3:GetObject", r, &[("aws:SecureTransport", "false")]),
            Some(Effect::Deny)
        );
        assert_eq!(
            ask(&p, None, "s3:GetObject", r, &[("aws:SecureTransport", "true")]),
            None
        );
        let p = Policy::parse(
            br#"{"Statement":[{"Effect":"Allow","Principal":{"CanonicalUser":"bob"},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::b",
                 "Condition":{"NumericLessThanEquals":{"s3:max-keys":"10"},"IpAddress":{"aws:SourceIp":["127.0.0.1","::1"]}}}]}"#,
            "b",
        )
        .unwrap();
        let facts = |n: &'static str| [("s3:max-keys", n), ("aws:SourceIp", "127.0.0.1")];
        assert_eq!(
            ask(&p, Some("bob"), "s3:ListBucket", "arn:aws:s3:::b", &facts("5")),
            Some(Effect::Allow)
        );
        assert_eq!(
            ask(&p, Some("bob"), "s3:ListBucket", "arn:aws:s3:::b", &facts("50")),
            None
        );
    }

    #[test]
    fn what_cannot_be_enforced_is_refused_by_name() {
        let refused = |doc: &str, part: &str| match Policy::parse(doc.as_bytes(), "b") {
            Err(S3Error::MalformedPolicy(m)) => assert!(m.contains(part), "{m} should name {part}"),
            other => panic!("{doc}: {other:?}"),
        };
        let st = |body: &str| format!(r#"{{"Version":"2012-10-17","Statement":[{{{body}}}]}}"#);
        refused("not json", "JSON");
        refused(
            &st(r#""Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*""#),
            "resource",
        );
        refused(
            &st(r#""Effect":"Allow","Principal":"*","Action":"iam:PassRole","Resource":"arn:aws:s3:::b/*""#),
            "action",
        );
        refused(
            &st(r#""Effect":"Maybe","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*""#),
            "Effect",
        );
        refused(
            &st(r#""Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/*""#),
            "Principal",
        );
        refused(
            &st(
                r#""Effect":"Allow","NotPrincipal":{"AWS":"x"},"Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b""#,
            ),
            "NotPrincipal",
        );
        refused(
            &st(
                r#""Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o"}}"#,
            ),
            "aws:PrincipalOrgID",
        );
        refused(
            &st(
                r#""Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b","Condition":{"DateGreaterThan":{"aws:CurrentTime":"x"}}"#,
            ),
            "DateGreaterThan",
        );
        refused(
            &st(
                r#""Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b","Condition":{"ForAnyValue:StringEquals":{"s3:prefix":"x"}}"#,
            ),
            "ForAnyValue",
        );
        refused(
            &st(
                r#""Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b","Condition":{"IpAddress":{"aws:SourceIp":"300.1.1.1"}}"#,
            ),
            "300.1.1.1",
        );
        refused(
            &st(
                r#""Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:role/r"},"Action":"s3:*","Resource":"arn:aws:s3:::b""#,
            ),
            "principal",
        );
        refused(r#"{"Version":"2012-10-17","Statement":[]}"#, "Statement");
        refused(r#"{"Version":"2020-01-01","Statement":{}}"#, "version");
    }
}
