//! The bundled browser client: files from `static/` embedded in the binary
//! at build time, or served from a folder on disk with `--static-dir` while
//! developing. Only ever answers with files inside that tree.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;
use tower::ServiceExt;
use tower_http::services::ServeDir;

use super::api::ApiError;

/// The `static/` folder, compiled into the binary.
#[derive(RustEmbed)]
#[folder = "$CARGO_MANIFEST_DIR/static"]
struct EmbeddedClient;

/// Where the browser client comes from.
#[derive(Debug, Clone)]
pub enum StaticFiles {
    /// The copy embedded in the binary.
    Embedded,
    /// A folder on disk (development).
    Dir(PathBuf),
}

impl StaticFiles {
    /// `Dir(path)` when given, else the embedded copy.
    pub fn new(dir: Option<&Path>) -> Self {
        dir.map_or(Self::Embedded, |d| Self::Dir(d.to_path_buf()))
    }

    /// Answers a GET or HEAD for `uri`; 404 `{"error"}` for anything that is
    /// not a file of the client.
    pub async fn serve(&self, method: Method, uri: Uri) -> Response {
        if method != Method::GET && method != Method::HEAD {
            return ApiError::MethodNotAllowed.into_response();
        }
        match self {
            Self::Embedded => serve_embedded(uri.path()),
            Self::Dir(dir) => serve_dir(dir, method, uri).await,
        }
    }
}

/// Maps a request path to a key of the embedded tree: `/` is `index.html`;
/// anything with an empty, `.` or `..` segment, a backslash or a NUL is
/// refused (the embedded map has no such keys anyway, but a clear refusal
/// keeps the two sources identical).
fn embedded_key(path: &str) -> Option<String> {
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .ok()?;
    let trimmed = decoded.strip_prefix('/')?;
    if trimmed.is_empty() {
        return Some("index.html".to_owned());
    }
    let safe = trimmed
        .split('/')
        .all(|seg| !seg.is_empty() && seg != "." && seg != ".." && !seg.contains(['\\', '\0']));
    safe.then(|| trimmed.to_owned())
}

fn serve_embedded(path: &str) -> Response {
    let Some(file) = embedded_key(path).and_then(|key| EmbeddedClient::get(&key).map(|f| (key, f)))
    else {
        return ApiError::NotFound.into_response();
    };
    let (key, file) = file;
    let mime = mime_guess::from_path(&key).first_or_octet_stream();
    let mut response = Response::new(Body::from(file.data.into_owned()));
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(mime.as_ref()) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

async fn serve_dir(dir: &Path, method: Method, uri: Uri) -> Response {
    if !resolves_inside(dir, uri.path()).await {
        return ApiError::NotFound.into_response();
    }
    let mut request = Request::new(Body::empty());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    match ServeDir::new(dir).oneshot(request).await {
        Ok(response) if response.status() == StatusCode::NOT_FOUND => {
            ApiError::NotFound.into_response()
        }
        Ok(response) => response.map(Body::new),
        Err(never) => match never {},
    }
}

/// Whether `path` names nothing, or something that stays inside `dir` once
/// symlinks are followed (`ServeDir` follows them, so a link inside the
/// folder could otherwise serve any file the process can read).
async fn resolves_inside(dir: &Path, path: &str) -> bool {
    let Ok(decoded) = percent_encoding::percent_decode_str(path).decode_utf8() else {
        return false;
    };
    let Ok(root) = tokio::fs::canonicalize(dir).await else {
        return false;
    };
    match tokio::fs::canonicalize(root.join(decoded.trim_start_matches('/'))).await {
        Ok(resolved) => resolved.starts_with(&root),
        // Nothing there (or unreadable): ServeDir answers 404 itself.
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::embedded_key;

    #[test]
    fn root_is_index() {
        assert_eq!(embedded_key("/").as_deref(), Some("index.html"));
    }

    #[test]
    fn rejects_traversal_and_nul() {
        for path in [
            "/../Cargo.toml",
            "/%2e%2e/Cargo.toml",
            "/a/../b",
            "/a%00.js",
            "/a//b",
            "/.\\x",
            "relative",
        ] {
            assert_eq!(embedded_key(path), None, "{path}");
        }
    }

    #[test]
    fn plain_paths_pass() {
        assert_eq!(embedded_key("/app.js").as_deref(), Some("app.js"));
        assert_eq!(
            embedded_key("/css/main.css").as_deref(),
            Some("css/main.css")
        );
    }
}
