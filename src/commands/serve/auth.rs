//! Who may use the server: the token (an `Authorization: Bearer` header, or the cookie the
//! page's sign-in sets), compared in constant time; and, for a server without a token,
//! requests addressed to this machine only (no other site's page posting to it).

use axum::http::{header, HeaderMap, StatusCode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

use super::error::ApiError;

/// The cookie the sign-in sets.
pub const COOKIE: &str = "syllabus_token";

/// The server's secret, if it has one.
#[derive(Clone)]
pub struct Auth {
    /// sha256 of the token: equal-length digests compare in constant time.
    digest: Option<[u8; 32]>,
    /// sha256 of the sign-in cookie's value.
    session: Option<[u8; 32]>,
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// The cookie's value for `token`: hex digits derived from it, so any token (a `;`, a
/// non-ASCII letter) makes a valid cookie and the cookie never holds the token itself.
fn session(token: &str) -> String {
    crate::launch::digest::sha256_hex(format!("syllabus sign-in\n{token}").as_bytes())
}

/// What a request offers to be let in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// The token itself (`Authorization: Bearer`, or the sign-in form).
    Token(String),
    /// The sign-in cookie.
    Cookie(String),
}

impl Auth {
    /// Requests must carry `token` when given.
    pub fn new(token: Option<&str>) -> Self {
        Self {
            digest: token.map(digest),
            session: token.map(|t| digest(&session(t))),
        }
    }

    /// The `Set-Cookie` value that signs in with `token` (once it is accepted).
    pub fn cookie(token: &str) -> String {
        format!(
            "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
            session(token)
        )
    }

    /// Whether the server has a token.
    pub fn required(&self) -> bool {
        self.digest.is_some()
    }

    /// Whether `given` is the token, or the cookie it signs in with (always, without one).
    pub fn accepts(&self, given: Option<&Credential>) -> bool {
        let Some(want) = &self.digest else {
            return true;
        };
        match given {
            Some(Credential::Token(t)) => bool::from(want.ct_eq(&digest(t))),
            // The cookie is derived from the token: compared as digests of the two.
            Some(Credential::Cookie(c)) => self
                .session
                .is_some_and(|s| bool::from(s.ct_eq(&digest(c)))),
            None => false,
        }
    }

    /// Checks a request: its token, and where it comes from.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        same_origin(headers)?;
        if !self.required() {
            return local_host(headers);
        }
        if self.accepts(credential(headers).as_ref()) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "this server needs its token: send Authorization: Bearer TOKEN, or sign in on its page",
            ))
        }
    }
}

/// What a request carries to be let in: its `Authorization: Bearer` token (UTF-8), or
/// its sign-in cookie.
pub fn credential(headers: &HeaderMap) -> Option<Credential> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| Credential::Token(t.trim().to_string()));
    bearer.or_else(|| {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == COOKIE)
            .map(|(_, v)| Credential::Cookie(v.to_string()))
    })
}

/// A browser sends `Origin` with a page's requests: another site's page is refused.
fn same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let authority = origin.split_once("://").map(|(_, a)| a);
    if host.is_some() && authority == host {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "requests from another site's page are refused",
        ))
    }
}

/// Without a token, only requests addressed to this machine by a loopback name (no other
/// name pointed at it to reach it from a page).
fn local_host(headers: &HeaderMap) -> Result<(), ApiError> {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let name = match host.rsplit_once(':') {
        Some((n, port)) if port.chars().all(|c| c.is_ascii_digit()) => n,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    let loopback = name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback() || !ip.is_unspecified());
    if loopback {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "address this server by its IP address or localhost",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.clone(), v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_token_comes_from_the_header_or_the_cookie() {
        let auth = Auth::new(Some("staff-room-7"));
        let host = (header::HOST, "10.0.0.5:8080");
        assert!(auth.check(&headers(std::slice::from_ref(&host))).is_err());
        let bearer = (header::AUTHORIZATION, "Bearer staff-room-7");
        assert!(auth.check(&headers(&[host.clone(), bearer])).is_ok());
        let wrong = (header::AUTHORIZATION, "Bearer staff-room-8");
        let err = auth.check(&headers(&[host.clone(), wrong])).unwrap_err();
        assert_eq!(err.status, StatusCode::UNAUTHORIZED);
        // The cookie holds a value derived from the token, never the token itself.
        let raw = (header::COOKIE, "a=b; syllabus_token=staff-room-7");
        assert!(auth.check(&headers(&[host.clone(), raw])).is_err());
        let set = Auth::cookie("staff-room-7");
        assert!(!set.contains("staff-room-7"), "{set}");
        let value = set.split(';').next().unwrap().to_string();
        let cookie = (header::COOKIE, format!("a=b; {value}"));
        let mut h = headers(std::slice::from_ref(&host));
        h.append(cookie.0, cookie.1.parse().unwrap());
        assert!(auth.check(&h).is_ok());
        let other_site = (header::ORIGIN, "http://evil.example");
        let bearer = (header::AUTHORIZATION, "Bearer staff-room-7");
        let err = auth
            .check(&headers(&[host, bearer, other_site]))
            .unwrap_err();
        assert_eq!(err.status, StatusCode::FORBIDDEN);
    }

    #[test]
    fn any_token_signs_in_by_its_cookie() {
        // A ';' would cut a raw cookie, a non-ASCII letter would not be a header at all.
        for token in ["staff;room=42", "salle-des-profs-é", "教员室的钥匙-2026"] {
            let auth = Auth::new(Some(token));
            let set = Auth::cookie(token);
            assert!(HeaderValue::from_str(&set).is_ok(), "{set}");
            let mut h = HeaderMap::new();
            h.append(header::HOST, "10.0.0.5:8080".parse().unwrap());
            let value = set.split(';').next().unwrap();
            h.append(header::COOKIE, value.parse().unwrap());
            assert!(auth.check(&h).is_ok(), "{token}");
            // Sent as a bearer token in UTF-8, it is taken too.
            let mut h = HeaderMap::new();
            h.append(header::HOST, "10.0.0.5:8080".parse().unwrap());
            h.append(
                header::AUTHORIZATION,
                HeaderValue::from_bytes(format!("Bearer {token}").as_bytes()).unwrap(),
            );
            assert!(auth.check(&h).is_ok(), "{token}");
        }
    }

    #[test]
    fn without_a_token_only_local_names_are_served() {
        let auth = Auth::new(None);
        for ok in [
            "127.0.0.1:8080",
            "localhost:3000",
            "[::1]:80",
            "192.168.1.20:8080",
        ] {
            assert!(auth.check(&headers(&[(header::HOST, ok)])).is_ok(), "{ok}");
        }
        for bad in ["evil.example:8080", "rebind.attacker.net"] {
            assert!(
                auth.check(&headers(&[(header::HOST, bad)])).is_err(),
                "{bad}"
            );
        }
    }
}
