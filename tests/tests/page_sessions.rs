//! The replication page's sign-in, tried as an attacker would: a cookie copied before
//! sign-out no longer works after it, wrong tokens are limited to ten a minute (the
//! right one is then refused too, so guessing cannot race), and the cookie is `Secure`
//! when the page is reached over TLS through a proxy that says so.

use strata_tests::{raw, RawResponse, Site};

const TOKEN: &str = "test-admin-token-0123456789";

fn post(site: &Site, path: &str, body: &str, extra: &str) -> RawResponse {
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        site.admin,
        body.len()
    );
    raw(site.admin, req.as_bytes(), false)
}

fn data(site: &Site, cookie: &str) -> u16 {
    let req = format!(
        "GET /ui/data HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n",
        site.admin
    );
    raw(site.admin, req.as_bytes(), false).status
}

/// The `name=value` of the session cookie a sign-in set.
fn session(r: &RawResponse) -> String {
    let set = r
        .header("set-cookie")
        .unwrap_or_else(|| panic!("no cookie: {}", r.status));
    set.split(';').next().unwrap().to_owned()
}

#[test]
fn signing_out_ends_the_session_for_every_copy_of_the_cookie() {
    let site = Site::start();
    let r = post(&site, "/login", &format!("token={TOKEN}"), "");
    assert_eq!(r.status, 303);
    assert!(
        !r.header("set-cookie").unwrap().contains("Secure"),
        "plain HTTP: no Secure"
    );
    let cookie = session(&r);
    assert_eq!(data(&site, &cookie), 200);
    let out = post(&site, "/logout", "", &format!("Cookie: {cookie}\r\n"));
    assert_eq!(out.status, 303);
    assert_eq!(data(&site, &cookie), 401, "the copy of the cookie still signed in");

    // Behind a TLS proxy the cookie is Secure.
    let r = post(
        &site,
        "/login",
        &format!("token={TOKEN}"),
        "X-Forwarded-Proto: https\r\n",
    );
    assert!(
        r.header("set-cookie").unwrap().contains("Secure"),
        "{:?}",
        r.header("set-cookie")
    );
}

#[test]
fn wrong_tokens_are_limited_to_ten_a_minute() {
    let site = Site::start();
    for i in 0..10 {
        assert_eq!(post(&site, "/login", &format!("token=guess-{i}"), "").status, 401);
    }
    let r = post(&site, "/login", &format!("token={TOKEN}"), "");
    assert_eq!(
        r.status, 429,
        "the eleventh try within the minute is refused, right or not"
    );
    assert!(r.text().contains("Too many wrong tokens"));
    // The bearer-token API is not affected.
    assert!(site.admin_cmd(&["status"]).contains("site"));
}
