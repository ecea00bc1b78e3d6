//! The HTTP layer every MLflow REST backend shares (tracking and registry).
//!
//! MLflow's REST API is plain JSON over HTTP, but talking to it *safely* takes more than
//! `reqwest::post`: credentials that must never reach a log, retries that must never
//! re-send a create, error bodies that are JSON on one path and HTML from a proxy on the
//! next, and a server that answers some bad requests with 200. All of that is written
//! once, here:
//!
//! - [`MlflowHttp`] holds the base URL, the [`Auth`] (from `MLFLOW_TRACKING_TOKEN` as a
//!   bearer token, or `MLFLOW_TRACKING_USERNAME`/`MLFLOW_TRACKING_PASSWORD` as basic
//!   auth, which wins when both are set), timeouts and the [`RetryPolicy`].
//! - Every call says whether it is [`Idempotency::Idempotent`]. Idempotent calls are
//!   retried with exponential backoff and full jitter on connection errors, timeouts,
//!   429 and 5xx. Non-idempotent calls (creates) are retried only when the connection
//!   was never established, so the server cannot have seen them.
//! - A non-2xx answer becomes [`Error::Mlflow`] with a typed [`ErrorCode`] parsed from
//!   MLflow's `{"error_code", "message"}` body; when the body is HTML, text or empty
//!   the code is derived from the HTTP status.
//! - Secrets live in [`Secret`], whose `Debug` prints `***`.
//!
//! Paths are relative: [`MlflowHttp::call`] takes `experiments/get` and sends it to
//! `<base>/api/2.0/mlflow/experiments/get`; the `artifact_*` methods work under
//! `<base>/api/2.0/mlflow-artifacts/artifacts/`.

use std::fmt;
use std::io::{Read, Write};
use std::time::Duration;

use reqwest::Method;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde::Deserialize;
use serde_json::Value;

use crate::{Error, Result};

/// MLflow's `error_code` values, typed. Unknown codes are kept as text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `RESOURCE_DOES_NOT_EXIST` (or HTTP 404 without a body).
    ResourceDoesNotExist,
    /// `RESOURCE_ALREADY_EXISTS`.
    ResourceAlreadyExists,
    /// `INVALID_PARAMETER_VALUE`.
    InvalidParameterValue,
    /// `INVALID_STATE`.
    InvalidState,
    /// `BAD_REQUEST` (or HTTP 400 without a body).
    BadRequest,
    /// `UNAUTHENTICATED` (or HTTP 401): missing or wrong credentials.
    Unauthenticated,
    /// `PERMISSION_DENIED` (or HTTP 403).
    PermissionDenied,
    /// `REQUEST_LIMIT_EXCEEDED` (or HTTP 429).
    RequestLimitExceeded,
    /// `INTERNAL_ERROR` (or HTTP 500 without a body).
    InternalError,
    /// `TEMPORARILY_UNAVAILABLE` (or HTTP 502/503/504 without a body).
    TemporarilyUnavailable,
    /// Any other code, as the server spelled it.
    Other(String),
}

impl ErrorCode {
    /// Parses MLflow's `error_code` text.
    pub fn from_code(code: &str) -> ErrorCode {
        match code {
            "RESOURCE_DOES_NOT_EXIST" | "NOT_FOUND" => ErrorCode::ResourceDoesNotExist,
            "RESOURCE_ALREADY_EXISTS" => ErrorCode::ResourceAlreadyExists,
            "INVALID_PARAMETER_VALUE" => ErrorCode::InvalidParameterValue,
            "INVALID_STATE" => ErrorCode::InvalidState,
            "BAD_REQUEST" => ErrorCode::BadRequest,
            "UNAUTHENTICATED" => ErrorCode::Unauthenticated,
            "PERMISSION_DENIED" => ErrorCode::PermissionDenied,
            "REQUEST_LIMIT_EXCEEDED" => ErrorCode::RequestLimitExceeded,
            "INTERNAL_ERROR" => ErrorCode::InternalError,
            "TEMPORARILY_UNAVAILABLE" => ErrorCode::TemporarilyUnavailable,
            other => ErrorCode::Other(other.to_string()),
        }
    }

    /// The code a status implies when the body carries none.
    pub fn from_status(status: u16) -> ErrorCode {
        match status {
            400 => ErrorCode::BadRequest,
            401 => ErrorCode::Unauthenticated,
            403 => ErrorCode::PermissionDenied,
            404 => ErrorCode::ResourceDoesNotExist,
            409 => ErrorCode::ResourceAlreadyExists,
            429 => ErrorCode::RequestLimitExceeded,
            502..=504 => ErrorCode::TemporarilyUnavailable,
            500..=599 => ErrorCode::InternalError,
            s => ErrorCode::Other(format!("HTTP_{s}")),
        }
    }

    /// MLflow's spelling of the code.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::ResourceDoesNotExist => "RESOURCE_DOES_NOT_EXIST",
            ErrorCode::ResourceAlreadyExists => "RESOURCE_ALREADY_EXISTS",
            ErrorCode::InvalidParameterValue => "INVALID_PARAMETER_VALUE",
            ErrorCode::InvalidState => "INVALID_STATE",
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::PermissionDenied => "PERMISSION_DENIED",
            ErrorCode::RequestLimitExceeded => "REQUEST_LIMIT_EXCEEDED",
            ErrorCode::InternalError => "INTERNAL_ERROR",
            ErrorCode::TemporarilyUnavailable => "TEMPORARILY_UNAVAILABLE",
            ErrorCode::Other(s) => s,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A secret string (token, password): `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How requests authenticate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Auth {
    /// No credentials.
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(Secret),
    /// HTTP basic auth (MLflow's `basic-auth` app).
    Basic {
        /// User name (not secret).
        username: String,
        /// Password.
        password: Secret,
    },
}

impl Auth {
    /// Reads MLflow's variables: `MLFLOW_TRACKING_USERNAME` + `MLFLOW_TRACKING_PASSWORD`
    /// (basic; wins when both kinds are set), else `MLFLOW_TRACKING_TOKEN` (bearer).
    pub fn from_env() -> Auth {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let (Some(u), Some(p)) = (
            var("MLFLOW_TRACKING_USERNAME"),
            var("MLFLOW_TRACKING_PASSWORD"),
        ) {
            return Auth::Basic {
                username: u,
                password: Secret::new(p),
            };
        }
        match var("MLFLOW_TRACKING_TOKEN") {
            Some(t) => Auth::Bearer(Secret::new(t)),
            None => Auth::None,
        }
    }
}

/// Whether a call may be re-sent after the server might have seen it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Safe to repeat (reads, updates, log-batch with fixed timestamps, PUT of an artifact).
    Idempotent,
    /// A create: re-sent only when the connection was never made.
    NotIdempotent,
}

/// Retry schedule: attempt `n` (from 0) waits a uniformly random time in
/// `[0, min(max_delay, base_delay * 2^n)]` ("full jitter").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, the first included (1 = no retry).
    pub max_attempts: u32,
    /// The first backoff ceiling.
    pub base_delay: Duration,
    /// The largest backoff ceiling.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
            .min(self.max_delay);
        let ms = ceiling.as_millis() as u64;
        Duration::from_millis(if ms == 0 {
            0
        } else {
            rand::random::<u64>() % (ms + 1)
        })
    }
}

/// One entry of an artifact listing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FileInfo {
    /// Path (relative to what was listed, or to the run root, depending on the API).
    pub path: String,
    /// A directory?
    #[serde(default)]
    pub is_dir: bool,
    /// Size in bytes, for files.
    #[serde(default)]
    pub file_size: Option<u64>,
}

/// A connection to one MLflow server: base URL, credentials, timeouts, retries.
///
/// Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct MlflowHttp {
    base: reqwest::Url,
    client: Client,
    auth: Auth,
    retry: RetryPolicy,
    timeout: Duration,
    artifact_timeout: Duration,
}

impl fmt::Debug for MlflowHttp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MlflowHttp")
            .field("base", &self.base.as_str())
            .field("auth", &self.auth)
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .finish()
    }
}

const MAX_MESSAGE: usize = 600;

impl MlflowHttp {
    /// A client for the server at `base_url` (`http://host:port`, with or without a
    /// path prefix). Credentials written into the URL (`http://user:pass@host`) are
    /// moved into [`Auth::Basic`] and taken out of the URL, so [`MlflowHttp::base_url`],
    /// `Debug`, error messages and everything built on them never show them. See
    /// [`MlflowHttp::from_env`].
    pub fn new(base_url: &str) -> Result<MlflowHttp> {
        let mut s = base_url.trim().to_string();
        if !s.ends_with('/') {
            s.push('/');
        }
        let shown = redact_url(base_url.trim());
        let mut base = reqwest::Url::parse(&s)
            .map_err(|e| Error::InvalidArgument(format!("MLflow URL {shown:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(Error::InvalidArgument(format!(
                "MLflow URL {shown:?}: scheme must be http or https"
            )));
        }
        let decode = |x: &str| {
            percent_decode(x).ok_or_else(|| {
                Error::InvalidArgument(format!("MLflow URL {shown:?}: bad %-escape in credentials"))
            })
        };
        let auth = if base.username().is_empty() && base.password().is_none() {
            Auth::None
        } else {
            let username = decode(base.username())?;
            let password = Secret::new(decode(base.password().unwrap_or(""))?);
            let _ = base.set_username("");
            let _ = base.set_password(None);
            Auth::Basic { username, password }
        };
        let client = Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(None)
            .build()
            .map_err(|e| Error::InvalidArgument(format!("HTTP client: {e}")))?;
        Ok(MlflowHttp {
            base,
            client,
            auth,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(60),
            artifact_timeout: Duration::from_secs(600),
        })
    }

    /// A client for `base_url` with credentials from the environment ([`Auth::from_env`]);
    /// without any there, those written into the URL (if any) stay.
    pub fn from_env(base_url: &str) -> Result<MlflowHttp> {
        let http = MlflowHttp::new(base_url)?;
        Ok(match Auth::from_env() {
            Auth::None => http,
            auth => http.with_auth(auth),
        })
    }

    /// Replaces the credentials.
    pub fn with_auth(mut self, auth: Auth) -> MlflowHttp {
        self.auth = auth;
        self
    }

    /// Replaces the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> MlflowHttp {
        self.retry = retry;
        self
    }

    /// Sets the per-request timeout of API calls (default 60 s; artifacts: 600 s).
    pub fn with_timeout(mut self, timeout: Duration) -> MlflowHttp {
        self.timeout = timeout;
        self
    }

    /// The base URL, always ending in `/`.
    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    /// The retry policy in force.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    fn url(&self, prefix: &str, path: &str) -> Result<reqwest::Url> {
        self.base
            .join(&format!("{prefix}{}", path.trim_start_matches('/')))
            .map_err(|e| Error::InvalidArgument(format!("bad MLflow path {path:?}: {e}")))
    }

    /// Calls `/api/2.0/mlflow/<path>`: `GET` sends `query` as the query string; other
    /// methods send `body` as JSON (`{}` when `None`). Returns the JSON answer (`{}` for
    /// an empty body).
    pub fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        idempotency: Idempotency,
    ) -> Result<Value> {
        self.call_dated(method, path, query, body, idempotency)
            .map(|(v, _)| v)
    }

    /// [`MlflowHttp::call`], also returning the server's clock at the answer: its
    /// `Date` header in ms since the Unix epoch (whole seconds), when it sent one.
    pub fn call_dated(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        idempotency: Idempotency,
    ) -> Result<(Value, Option<u64>)> {
        let mut url = self.url("api/2.0/mlflow/", path)?;
        if !query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        let body_bytes = match (&method, body) {
            (&Method::GET, None) => None,
            (_, Some(b)) => Some(serde_json::to_vec(b).map_err(|e| Error::Json {
                context: format!("request body of {path}"),
                source: e,
            })?),
            (_, None) => Some(b"{}".to_vec()),
        };
        let resp = self.send(path, idempotency, || {
            let mut rb = self
                .client
                .request(method.clone(), url.clone())
                .timeout(self.timeout);
            if let Some(b) = &body_bytes {
                rb = rb
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(b.clone());
            }
            rb
        })?;
        let date = resp
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_http_date);
        let bytes = resp.bytes().map_err(|e| Error::Unreachable {
            endpoint: path.to_string(),
            attempts: 1,
            message: format!("reading the answer: {e}"),
        })?;
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok((Value::Object(Default::default()), date));
        }
        let v = serde_json::from_slice(&bytes).map_err(|e| Error::Json {
            context: format!("answer of {path}"),
            source: e,
        })?;
        Ok((v, date))
    }

    /// `GET /api/2.0/mlflow/<path>?query`, idempotent.
    pub fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value> {
        self.call(Method::GET, path, query, None, Idempotency::Idempotent)
    }

    /// `POST /api/2.0/mlflow/<path>` with a JSON body.
    pub fn post(&self, path: &str, body: &Value, idempotency: Idempotency) -> Result<Value> {
        self.call(Method::POST, path, &[], Some(body), idempotency)
    }

    /// Uploads `body` (of `len` bytes) to `/api/2.0/mlflow-artifacts/artifacts/<path>`,
    /// where `path` is the part after `mlflow-artifacts:/`. Idempotent (a PUT).
    ///
    /// `body` is called once per attempt, so a retry re-reads the file from the start.
    pub fn artifact_put(
        &self,
        path: &str,
        mut body: impl FnMut() -> Result<(Box<dyn Read + Send>, u64)>,
    ) -> Result<()> {
        let url = self.url("api/2.0/mlflow-artifacts/artifacts/", &encode_path(path))?;
        let endpoint = format!("artifacts PUT {path}");
        let mut open_err = None;
        let resp = self.send(&endpoint, Idempotency::Idempotent, || {
            let rb = self
                .client
                .put(url.clone())
                .timeout(self.artifact_timeout)
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream");
            match body() {
                Ok((r, len)) => rb.body(reqwest::blocking::Body::sized(r, len)),
                Err(e) => {
                    open_err = Some(e);
                    rb.body(Vec::new())
                }
            }
        });
        if let Some(e) = open_err {
            return Err(e);
        }
        resp.map(|_| ())
    }

    /// Downloads `/api/2.0/mlflow-artifacts/artifacts/<path>` into `out`; returns the
    /// number of bytes. Retried only when nothing was written yet.
    pub fn artifact_get(&self, path: &str, out: &mut dyn Write) -> Result<u64> {
        let url = self.url("api/2.0/mlflow-artifacts/artifacts/", &encode_path(path))?;
        let endpoint = format!("artifacts GET {path}");
        let mut resp = self.send(&endpoint, Idempotency::Idempotent, || {
            self.client.get(url.clone()).timeout(self.artifact_timeout)
        })?;
        resp.copy_to(out).map_err(|e| Error::Unreachable {
            endpoint,
            attempts: 1,
            message: format!("download interrupted: {e}"),
        })
    }

    /// Lists `/api/2.0/mlflow-artifacts/artifacts?path=<path>` (one level; paths in
    /// the answer are relative to `path`).
    pub fn artifact_list(&self, path: &str) -> Result<Vec<FileInfo>> {
        let mut url = self.url("api/2.0/mlflow-artifacts/artifacts", "")?;
        url.query_pairs_mut().append_pair("path", path);
        let endpoint = format!("artifacts list {path}");
        let resp = self.send(&endpoint, Idempotency::Idempotent, || {
            self.client.get(url.clone()).timeout(self.timeout)
        })?;
        #[derive(Deserialize)]
        struct Listing {
            #[serde(default)]
            files: Vec<FileInfo>,
        }
        let bytes = resp.bytes().map_err(|e| Error::Unreachable {
            endpoint: endpoint.clone(),
            attempts: 1,
            message: e.to_string(),
        })?;
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(Vec::new());
        }
        let l: Listing = serde_json::from_slice(&bytes).map_err(|e| Error::Json {
            context: format!("answer of {endpoint}"),
            source: e,
        })?;
        Ok(l.files)
    }

    fn authorize(&self, rb: RequestBuilder) -> RequestBuilder {
        match &self.auth {
            Auth::None => rb,
            Auth::Bearer(t) => rb.bearer_auth(t.expose()),
            Auth::Basic { username, password } => rb.basic_auth(username, Some(password.expose())),
        }
    }

    /// Sends with retries; returns a 2xx response or the typed error.
    fn send(
        &self,
        endpoint: &str,
        idempotency: Idempotency,
        mut build: impl FnMut() -> RequestBuilder,
    ) -> Result<Response> {
        let max = self.retry.max_attempts.max(1);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let last = attempt >= max;
            match self.authorize(build()).send() {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if (200..300).contains(&status) {
                        return Ok(resp);
                    }
                    let retryable = status == 429 || (500..600).contains(&status);
                    if retryable && idempotency == Idempotency::Idempotent && !last {
                        tracing::debug!(endpoint, status, attempt, "MLflow call retried");
                        std::thread::sleep(self.retry.delay(attempt - 1));
                        continue;
                    }
                    return Err(error_from_response(endpoint, resp));
                }
                Err(e) => {
                    let never_sent = e.is_connect();
                    let retryable = never_sent || idempotency == Idempotency::Idempotent;
                    if retryable && !last {
                        tracing::debug!(endpoint, attempt, error = %e, "MLflow call retried");
                        std::thread::sleep(self.retry.delay(attempt - 1));
                        continue;
                    }
                    return Err(Error::Unreachable {
                        endpoint: endpoint.to_string(),
                        attempts: attempt,
                        message: transport_message(&e),
                    });
                }
            }
        }
    }
}

/// The transport error's chain, without the URL's userinfo (we never put any there).
fn transport_message(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

fn error_from_response(endpoint: &str, resp: Response) -> Error {
    let status = resp.status().as_u16();
    let text = resp.text().unwrap_or_default();
    error_from_body(endpoint, status, &text)
}

/// Turns a non-2xx answer into [`Error::Mlflow`]: MLflow's JSON body when there is one,
/// the status otherwise (HTML from a proxy, empty bodies).
pub(crate) fn error_from_body(endpoint: &str, status: u16, text: &str) -> Error {
    #[derive(Deserialize)]
    struct Body {
        error_code: Option<String>,
        message: Option<String>,
    }
    let parsed: Option<Body> = serde_json::from_str(text).ok();
    let (code, message) = match parsed {
        Some(Body {
            error_code: Some(c),
            message,
        }) => {
            let mut code = ErrorCode::from_code(&c);
            // The basic-auth app answers 401 with a body-less or text page; a few
            // proxies answer 404 with a generic code: the status is more precise then.
            if status == 401 && code != ErrorCode::Unauthenticated {
                code = ErrorCode::Unauthenticated;
            }
            (code, message.unwrap_or_default())
        }
        _ => {
            let snippet: String = text
                .chars()
                .filter(|c| !c.is_control() || *c == ' ')
                .take(200)
                .collect();
            (ErrorCode::from_status(status), snippet)
        }
    };
    let message = if message.chars().count() > MAX_MESSAGE {
        let mut m: String = message.chars().take(MAX_MESSAGE).collect();
        m.push('…');
        m
    } else {
        message
    };
    Error::Mlflow {
        endpoint: endpoint.to_string(),
        status,
        code,
        message,
    }
}

/// `url` with the password of its userinfo replaced by `***` (and nothing else
/// changed), for messages. Text that does not parse as a URL is cut at the last `@`
/// before the host, so nothing after `scheme://` up to it is shown.
pub fn redact_url(url: &str) -> String {
    if let Ok(mut u) = reqwest::Url::parse(url)
        && u.has_host()
    {
        if u.password().is_some() {
            let _ = u.set_password(Some("***"));
        } else if !u.username().is_empty() {
            let _ = u.set_username("***");
        }
        let mut out = u.to_string();
        if !url.ends_with('/') && out.ends_with('/') && u.path() == "/" {
            out.pop();
        }
        return out;
    }
    match (url.find("://"), url.rfind('@')) {
        (Some(i), Some(at)) if at > i => format!("{}***{}", &url[..i + 3], &url[at..]),
        _ => url.to_string(),
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Parses an HTTP `Date` in its one current form, IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), to ms since the Unix epoch.
fn parse_http_date(s: &str) -> Option<u64> {
    let mut it = s.split_whitespace();
    let _weekday = it.next()?;
    let day: i64 = it.next()?.parse().ok()?;
    let month = match it.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = it.next()?.parse().ok()?;
    let mut hms = it.next()?.split(':').map(|x| x.parse::<i64>().ok());
    let (h, mi, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if it.next()? != "GMT" || !(1..=31).contains(&day) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec;
    u64::try_from(secs).ok().map(|s| s * 1000)
}

/// Percent-encodes each segment of a `/`-separated path (spaces, unicode, `%`, `?`, `#`).
pub fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        for b in seg.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn credentials_in_the_url_become_auth_and_never_show() {
        let h = MlflowHttp::new("http://alice:s%40cret@LOCALHOST:5000/").unwrap();
        assert_eq!(h.base_url(), "http://localhost:5000/");
        assert_eq!(
            h.auth,
            Auth::Basic {
                username: "alice".into(),
                password: Secret::new("s@cret")
            }
        );
        assert!(!format!("{h:?}").contains("s@cret"));
        assert_eq!(
            redact_url("http://alice:s3cret@host:1/x"),
            "http://alice:***@host:1/x"
        );
        assert_eq!(redact_url("http://token@host"), "http://***@host");
        assert_eq!(redact_url("http://host:1"), "http://host:1");
        assert_eq!(redact_url("weird://a:b@c d"), "weird://***@c d");
        let e = MlflowHttp::new("ftp://u:s3cret@host")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("s3cret"), "{e}");
    }

    #[test]
    fn http_dates() {
        assert_eq!(
            super::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777_000)
        );
        assert_eq!(
            super::parse_http_date("Tue, 01 Dec 2026 12:25:24 GMT").map(crate::format_utc_ms),
            Some("2026-12-01 12:25:24.000".to_string())
        );
        assert_eq!(
            super::parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            None
        );
        assert_eq!(super::parse_http_date("garbage"), None);
    }

    use super::*;

    #[test]
    fn secrets_never_print() {
        let h = MlflowHttp::new("http://127.0.0.1:1")
            .unwrap()
            .with_auth(Auth::Basic {
                username: "alice".into(),
                password: Secret::new("hunter2-very-secret"),
            });
        let d = format!("{h:?}");
        assert!(!d.contains("hunter2"), "{d}");
        assert!(d.contains("alice"));
        let b = format!("{:?}", Auth::Bearer(Secret::new("tok-123")));
        assert!(!b.contains("tok-123"));
    }

    #[test]
    fn error_bodies() {
        let e = error_from_body(
            "runs/get",
            404,
            r#"{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Run 'x' not found"}"#,
        );
        assert!(e.is_not_found());
        let e = error_from_body("x", 503, "<html><body>Bad gateway</body></html>");
        assert_eq!(e.mlflow_code(), Some(&ErrorCode::TemporarilyUnavailable));
        let e = error_from_body("x", 401, "");
        assert_eq!(e.mlflow_code(), Some(&ErrorCode::Unauthenticated));
        let e = error_from_body("x", 400, r#"{"error_code":"WEIRD_NEW","message":"m"}"#);
        assert_eq!(e.mlflow_code(), Some(&ErrorCode::Other("WEIRD_NEW".into())));
    }

    #[test]
    fn paths_and_backoff() {
        assert_eq!(encode_path("a b/é%.txt"), "a%20b/%C3%A9%25.txt");
        let p = RetryPolicy::default();
        for a in 0..30 {
            assert!(p.delay(a) <= p.max_delay);
        }
        assert!(MlflowHttp::new("ftp://x").is_err());
        let h = MlflowHttp::new("http://h:1/prefix").unwrap();
        assert_eq!(
            h.url("api/2.0/mlflow/", "runs/get").unwrap().as_str(),
            "http://h:1/prefix/api/2.0/mlflow/runs/get"
        );
    }

    #[test]
    fn unreachable_is_typed_and_bounded() {
        // Port 9 on loopback: nothing listens, connection refused at once.
        let h = MlflowHttp::new("http://127.0.0.1:9")
            .unwrap()
            .with_retry(RetryPolicy {
                max_attempts: 3,
                base_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(2),
            });
        match h.get("experiments/get", &[("experiment_id", "0")]) {
            Err(Error::Unreachable { attempts, .. }) => assert_eq!(attempts, 3),
            other => panic!("{other:?}"),
        }
    }
}
