//! What the engine reads from an HTTP request: the [`Handshake`] kept for
//! the layer above, the Engine.IO query parameters, the origin policy
//! (allowlist + CORS headers), and the WebSocket upgrade headers.
//!
//! Pure request inspection: no sessions, no I/O.

use std::net::SocketAddr;

use http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode, Uri};
use percent_encoding::percent_decode_str;

use super::config::EngineConfig;
use super::errors::{EngineBody, EngineError};

/// The HTTP request that opened a session.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// Request URI, with its query string.
    pub uri: Uri,
    /// Request headers.
    pub headers: HeaderMap,
    /// Peer address, when known.
    pub remote_addr: Option<SocketAddr>,
}

impl Handshake {
    /// The first value of query parameter `name`, percent-decoded.
    pub fn query(&self, name: &str) -> Option<String> {
        query_param(self.uri.query().unwrap_or(""), name)
    }
}

/// The first value of `name` in a URL query string, with `+` read as a space
/// and percent escapes decoded (invalid UTF-8 replaced).
pub(crate) fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decode_component(key) == name).then(|| decode_component(value))
    })
}

fn decode_component(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// The transport a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestedTransport {
    Polling,
    WebSocket,
}

/// The Engine.IO query parameters of one request.
#[derive(Debug)]
pub(crate) struct EngineQuery {
    /// `transport`, validated.
    pub transport: RequestedTransport,
    /// `sid`, when the request belongs to an open session.
    pub sid: Option<String>,
    /// Whether `EIO=4`.
    pub eio4: bool,
}

impl EngineQuery {
    /// Reads the query; an unknown or missing transport is refused first,
    /// as the reference server does.
    pub fn parse(uri: &Uri) -> Result<Self, EngineError> {
        let query = uri.query().unwrap_or("");
        let transport = match query_param(query, "transport").as_deref() {
            Some("polling") => RequestedTransport::Polling,
            Some("websocket") => RequestedTransport::WebSocket,
            _ => return Err(EngineError::UnknownTransport),
        };
        let sid = query_param(query, "sid").filter(|sid| !sid.is_empty());
        let eio4 = query_param(query, "EIO").as_deref() == Some("4");
        Ok(Self {
            transport,
            sid,
            eio4,
        })
    }
}

/// The origin policy's verdict on one request.
#[derive(Debug, Clone)]
pub(crate) enum OriginVerdict {
    /// Any origin is allowed: answer with `Access-Control-Allow-Origin: *`.
    AnyOrigin,
    /// The request's origin is on the allowlist: echo it with credentials.
    Listed(HeaderValue),
    /// No `Origin` header while an allowlist is configured: same-site or
    /// non-browser client; no CORS headers.
    NoOrigin,
}

/// Checks the `Origin` header against the allowlist.
pub(crate) fn check_origin(
    config: &EngineConfig,
    headers: &HeaderMap,
) -> Result<OriginVerdict, EngineError> {
    let origin = headers.get(header::ORIGIN);
    if let Some(origin) = origin {
        // Only visible ASCII makes an origin (hyper already refuses control
        // characters, Node's INVALID_ORIGIN); anything else is no origin
        // we could ever list or echo.
        if origin.to_str().is_err() {
            return Err(EngineError::BadRequest("invalid origin header"));
        }
    }
    let Some(allowed) = &config.allowed_origins else {
        return Ok(OriginVerdict::AnyOrigin);
    };
    match origin {
        None => Ok(OriginVerdict::NoOrigin),
        Some(origin) if allowed.iter().any(|a| a.as_bytes() == origin.as_bytes()) => {
            Ok(OriginVerdict::Listed(origin.clone()))
        }
        Some(_) => Err(EngineError::Forbidden),
    }
}

/// Adds the CORS headers the verdict calls for.
pub(crate) fn apply_cors(verdict: &OriginVerdict, headers: &mut HeaderMap) {
    match verdict {
        OriginVerdict::AnyOrigin => {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
        OriginVerdict::Listed(origin) => {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        OriginVerdict::NoOrigin => {}
    }
}

/// The answer to a CORS preflight (`OPTIONS`).
pub(crate) fn preflight(
    verdict: &OriginVerdict,
    request_headers: &HeaderMap,
) -> Response<EngineBody> {
    let mut response = Response::new(EngineBody::default());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    apply_cors(verdict, headers);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    if let Some(asked) = request_headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
        headers.append(
            header::VARY,
            HeaderValue::from_static("Access-Control-Request-Headers"),
        );
    }
    response
}

/// Whether the request asks for a protocol upgrade at all (any `Upgrade` header).
pub(crate) fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
}

/// Validates a WebSocket upgrade request and returns its `Sec-WebSocket-Key`.
pub(crate) fn websocket_key(
    method: &Method,
    headers: &HeaderMap,
) -> Result<HeaderValue, EngineError> {
    if method != Method::GET {
        return Err(EngineError::BadRequest("websocket upgrade must be a GET"));
    }
    let has_token = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|value| {
            value
                .to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    if !has_token(header::UPGRADE, "websocket") {
        return Err(EngineError::BadRequest("upgrade is not to websocket"));
    }
    if !has_token(header::CONNECTION, "upgrade") {
        return Err(EngineError::BadRequest("connection header lacks upgrade"));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        return Err(EngineError::BadRequest("unsupported websocket version"));
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or(EngineError::BadRequest("missing websocket key"))?;
    // RFC 6455: the key is 16 random bytes in base64, i.e. 24 characters.
    if key.len() != 24 {
        return Err(EngineError::BadRequest("malformed websocket key"));
    }
    Ok(key.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_param_decodes_and_takes_first() {
        assert_eq!(query_param("a=1&b=x%20y&a=2", "a").as_deref(), Some("1"));
        assert_eq!(query_param("a=1&b=x%20y+z", "b").as_deref(), Some("x y z"));
        assert_eq!(query_param("flag&a=1", "flag").as_deref(), Some(""));
        assert_eq!(query_param("", "a"), None);
        assert_eq!(query_param("a=%ff", "a").as_deref(), Some("\u{fffd}"));
    }

    fn parse(query: &str) -> Result<EngineQuery, EngineError> {
        EngineQuery::parse(&format!("/engine.io/?{query}").parse().unwrap())
    }

    #[test]
    fn rejects_missing_or_unknown_transport() {
        assert_eq!(parse("EIO=4").unwrap_err(), EngineError::UnknownTransport);
        assert_eq!(
            parse("EIO=4&transport=abc").unwrap_err(),
            EngineError::UnknownTransport
        );
        assert_eq!(
            parse("EIO=4&transport=__proto__").unwrap_err(),
            EngineError::UnknownTransport
        );
        assert_eq!(
            parse("EIO=4&transport=flashsocket").unwrap_err(),
            EngineError::UnknownTransport
        );
    }

    #[test]
    fn reads_protocol_version_and_sid() {
        let query = parse("EIO=4&transport=polling&sid=abc&t=x").unwrap();
        assert_eq!(query.transport, RequestedTransport::Polling);
        assert_eq!(query.sid.as_deref(), Some("abc"));
        assert!(query.eio4);
        assert!(!parse("EIO=3&transport=websocket").unwrap().eio4);
        assert!(!parse("EIO=abc&transport=websocket").unwrap().eio4);
        assert!(!parse("transport=websocket").unwrap().eio4);
        assert_eq!(parse("EIO=4&transport=polling&sid=").unwrap().sid, None);
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), HeaderValue::from_str(v).unwrap()))
            .collect()
    }

    #[test]
    fn rejects_origin_not_on_allowlist() {
        let config = EngineConfig {
            allowed_origins: Some(vec!["http://good".into()]),
            ..EngineConfig::default()
        };
        let bad = headers(&[(header::ORIGIN, "http://evil")]);
        assert_eq!(
            check_origin(&config, &bad).unwrap_err(),
            EngineError::Forbidden
        );
        let good = headers(&[(header::ORIGIN, "http://good")]);
        assert!(matches!(
            check_origin(&config, &good),
            Ok(OriginVerdict::Listed(_))
        ));
        assert!(matches!(
            check_origin(&config, &HeaderMap::new()),
            Ok(OriginVerdict::NoOrigin)
        ));
        assert!(matches!(
            check_origin(&EngineConfig::default(), &bad),
            Ok(OriginVerdict::AnyOrigin)
        ));
    }

    #[test]
    fn rejects_origin_with_non_ascii_bytes() {
        let mut map = HeaderMap::new();
        map.insert(
            header::ORIGIN,
            HeaderValue::from_bytes(b"http://a\xffb").unwrap(),
        );
        assert!(matches!(
            check_origin(&EngineConfig::default(), &map),
            Err(EngineError::BadRequest(_))
        ));
    }

    fn upgrade_headers() -> Vec<(header::HeaderName, &'static str)> {
        vec![
            (header::UPGRADE, "websocket"),
            (header::CONNECTION, "keep-alive, Upgrade"),
            (header::SEC_WEBSOCKET_VERSION, "13"),
            (header::SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ=="),
        ]
    }

    #[test]
    fn accepts_valid_websocket_upgrade() {
        assert!(websocket_key(&Method::GET, &headers(&upgrade_headers())).is_ok());
    }

    #[test]
    fn rejects_bad_websocket_upgrades() {
        let with = |name: header::HeaderName, value: Option<&'static str>| {
            let mut pairs = upgrade_headers();
            pairs.retain(|(k, _)| *k != name);
            if let Some(value) = value {
                pairs.push((name, value));
            }
            websocket_key(&Method::GET, &headers(&pairs))
        };
        assert!(with(header::UPGRADE, Some("h2c")).is_err());
        assert!(with(header::CONNECTION, None).is_err());
        assert!(with(header::SEC_WEBSOCKET_VERSION, Some("8")).is_err());
        assert!(with(header::SEC_WEBSOCKET_KEY, None).is_err());
        assert!(with(header::SEC_WEBSOCKET_KEY, Some("short")).is_err());
        assert!(websocket_key(&Method::POST, &headers(&upgrade_headers())).is_err());
    }
}
