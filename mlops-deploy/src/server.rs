//! The local model server: axum on a tokio runtime the server owns, behind a blocking
//! handle.
//!
//! [`ModelServer::start`] binds, starts serving and returns a [`ServerHandle`] with the
//! bound address; the caller's code stays synchronous. The handle changes variants and
//! weights, swaps models while traffic flows, reads per-arm counters, and
//! [`ServerHandle::shutdown`] stops accepting, lets in-flight requests finish, then
//! flushes the inference log.
//!
//! The request path of a prediction: bound in-flight requests (past the bound: 503 with
//! `Retry-After`), read the body up to a limit (413), parse it with the protocol's codec
//! (415/400), pick an arm of the routing snapshot taken at arrival, decode the rows
//! against that model's compiled schema (400), predict on the typed batch (no polars
//! frame for flavors that read batches), encode, answer. Metrics, arm counters and the
//! inference log record are updated after the answer is built; the log write is a
//! non-blocking queue push. A shadow copy runs on a separate bounded pool after that
//! and can neither delay nor fail the answer. Each prediction runs in a `predict`
//! `tracing` span (request id, protocol, variant, status); the server installs no
//! subscriber.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use mlops_train::{Batch, Prediction};
use tokio::sync::{Semaphore, oneshot};
use tracing::Instrument;

use crate::codec::{kserve, mlflow};
use crate::inference_log::{InferenceLog, LogConfig, LogCounters, LogRecord, LogSender};
use crate::label_log::LabelLog;
use crate::metrics::{ArmLabels, Metrics, ModelLabels, RequestLabels, VariantLabels};
use crate::outcome::{AnswerMemory, OutcomeReport, OutcomeStats};
use crate::router::{
    Arm, ArmStats, CounterBook, Routing, SHADOW, STABLE, StickyKey, VariantInfo, check_name,
    check_weights, splitmix64, sticky_hash,
};
use crate::schema::{InputError, Table};
use crate::served::ServedModel;
use crate::{Error, Result};

/// Batches with more cells than this are predicted on tokio's blocking pool instead of
/// the I/O worker (a forest on 100 rows takes milliseconds).
const INLINE_CELLS: usize = 4096;

/// How the server runs. `Default` is a loopback server on a free port.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Address to bind (port 0: any free port).
    pub addr: SocketAddr,
    /// Prediction requests served at once; more are answered 503 with `Retry-After`.
    pub max_in_flight: usize,
    /// Largest request body, bytes (413 past it).
    pub max_body_bytes: usize,
    /// Most rows in one request (400 past it).
    pub max_rows: usize,
    /// Seconds sent in `Retry-After` with a 503.
    pub retry_after_secs: u32,
    /// Where a sticky routing key comes from (`None`: requests are spread evenly).
    pub sticky: Option<StickyKey>,
    /// Shadow predictions running at once; past it a request is not mirrored (counted).
    pub shadow_in_flight: usize,
    /// The inference log (`None`: no log).
    pub log: Option<LogConfig>,
    /// Runtime worker threads (`None`: one per core).
    pub workers: Option<usize>,
    /// How long [`ServerHandle::shutdown`] waits for in-flight requests.
    pub drain_timeout: Duration,
    /// The file `POST /labels` appends delayed labels to (JSON lines, see
    /// [`crate::label_log`]); `None`: the endpoint answers 404.
    pub labels: Option<std::path::PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            max_in_flight: 1024,
            max_body_bytes: 16 << 20,
            max_rows: 100_000,
            retry_after_secs: 1,
            sticky: None,
            shadow_in_flight: 2,
            log: None,
            workers: None,
            drain_timeout: Duration::from_secs(30),
            labels: None,
        }
    }
}

struct App {
    config: ServerConfig,
    routing: RwLock<Arc<Routing>>,
    edit: Mutex<()>,
    book: CounterBook,
    metrics: Metrics,
    limit: Arc<Semaphore>,
    shadow_limit: Arc<Semaphore>,
    log: Option<LogSender>,
    log_counters: Option<Arc<LogCounters>>,
    labels: Option<Arc<LabelLog>>,
    seq: AtomicU64,
    nonce: u64,
    answers: AnswerMemory,
}

impl App {
    fn routing(&self) -> Arc<Routing> {
        self.routing
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn request_id(&self, headers: &HeaderMap) -> String {
        if let Some(v) = headers.get("x-request-id")
            && let Ok(s) = v.to_str()
            && crate::label_log::valid_id(s)
        {
            return s.to_string();
        }
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        format!("{:016x}-{n:x}", self.nonce)
    }

    fn publish_weights(&self, routing: &Routing) {
        for v in routing.variants() {
            self.metrics
                .weight
                .get_or_create(&VariantLabels { variant: v.name })
                .set(v.weight);
        }
    }
}

/// Starts servers.
#[derive(Debug, Clone, Copy)]
pub struct ModelServer;

impl ModelServer {
    /// Binds `config.addr`, starts the runtime, the inference log and the server with
    /// `stable` as the default variant, and returns once it accepts connections.
    pub fn start(config: ServerConfig, stable: ServedModel) -> Result<ServerHandle> {
        if config.max_in_flight == 0 || config.max_rows == 0 || config.max_body_bytes == 0 {
            return Err(Error::config(
                "limits",
                "max_in_flight, max_rows and max_body_bytes must be > 0",
            ));
        }
        let workers = config
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
            .max(1);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("mlops-serve")
            .enable_all()
            .build()
            .map_err(|e| Error::Server(format!("cannot start the runtime: {e}")))?;
        let log = config.log.clone().map(InferenceLog::start).transpose()?;
        let labels = match &config.labels {
            Some(p) => Some(Arc::new(LabelLog::open(p)?)),
            None => None,
        };
        let book = CounterBook::default();
        let metrics = Metrics::new();
        metrics
            .load_seconds
            .get_or_create(&ModelLabels {
                model: stable.name().to_string(),
                version: stable.version().to_string(),
            })
            .set(stable.load_seconds());
        let routing = Routing {
            arms: vec![book.arm(STABLE, stable, 1.0)],
            shadow: None,
        };
        let nonce = splitmix64(mlops_core::now_ms() ^ (u64::from(std::process::id()) << 32));
        let app = Arc::new(App {
            limit: Arc::new(Semaphore::new(config.max_in_flight)),
            shadow_limit: Arc::new(Semaphore::new(config.shadow_in_flight)),
            routing: RwLock::new(Arc::new(routing)),
            edit: Mutex::new(()),
            book,
            metrics,
            log: log.as_ref().and_then(InferenceLog::sender),
            log_counters: log.as_ref().map(|l| l.counters().clone()),
            labels,
            seq: AtomicU64::new(0),
            nonce,
            answers: AnswerMemory::default(),
            config,
        });
        app.publish_weights(&app.routing());
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(app.config.addr))
            .map_err(|e| Error::Server(format!("cannot bind {}: {e}", app.config.addr)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Server(format!("no local address: {e}")))?;
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let router = routes(app.clone());
        let serve = runtime.spawn(async move {
            // Nagle's algorithm would hold small answers for the client's delayed ACK
            // (~40 ms per keep-alive request): answers go out at once.
            let listener = listener.tap_io(|s| {
                let _ = s.set_nodelay(true);
            });
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.await;
                })
                .await
        });
        tracing::info!(%addr, "model server listening");
        Ok(ServerHandle {
            addr,
            app,
            runtime: Some(runtime),
            stop: Some(stop_tx),
            serve: Some(serve),
            log,
        })
    }
}

/// A running server. Dropping it shuts it down as [`ServerHandle::shutdown`] does.
///
/// Must be used from blocking code, not from inside an async runtime (it drives its
/// own).
pub struct ServerHandle {
    addr: SocketAddr,
    app: Arc<App>,
    runtime: Option<tokio::runtime::Runtime>,
    stop: Option<oneshot::Sender<()>>,
    serve: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    log: Option<InferenceLog>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn edit(&self, f: impl FnOnce(&mut Routing, &CounterBook) -> Result<()>) -> Result<()> {
        let _serialised = self.app.edit.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = (*self.app.routing()).clone();
        f(&mut next, &self.app.book)?;
        check_weights(&next)?;
        for arm in next.arms.iter().chain(next.shadow.iter()) {
            self.app
                .metrics
                .load_seconds
                .get_or_create(&ModelLabels {
                    model: arm.model.name().to_string(),
                    version: arm.model.version().to_string(),
                })
                .set(arm.model.load_seconds());
        }
        self.app.publish_weights(&next);
        *self.app.routing.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        Ok(())
    }

    /// Adds the weighted variant `name` (e.g. `canary`) or replaces its model and
    /// weight. `stable` takes what the weighted variants leave; `name` may not be
    /// `stable` or `shadow` (use [`ServerHandle::swap`] and [`ServerHandle::set_shadow`]).
    pub fn set_variant(&self, name: &str, model: ServedModel, weight: f64) -> Result<()> {
        check_name(name)?;
        if name == STABLE || name == SHADOW {
            return Err(Error::config(
                "variant",
                format!("{name:?} is not a weighted variant: use swap or set_shadow"),
            ));
        }
        self.edit(|r, book| {
            let arm = book.arm(name, model, weight);
            match r.arms.iter().position(|a| a.name == name) {
                Some(i) => r.arms[i] = arm,
                None => r.arms.push(arm),
            }
            Ok(())
        })
    }

    /// Replaces the model of variant `name` (`stable`, `shadow` or a weighted one),
    /// keeping its weight: a blue-green switch. Requests that arrived before keep the
    /// model they started with; later ones get the new one.
    pub fn swap(&self, name: &str, model: ServedModel) -> Result<()> {
        self.edit(|r, book| {
            if name == SHADOW {
                let s = r
                    .shadow
                    .as_mut()
                    .ok_or_else(|| Error::NoSuchVariant(name.into()))?;
                *s = book.arm(SHADOW, model, 1.0);
                return Ok(());
            }
            let i = r
                .arms
                .iter()
                .position(|a| a.name == name)
                .ok_or_else(|| Error::NoSuchVariant(name.into()))?;
            let w = r.arms[i].weight;
            r.arms[i] = book.arm(name, model, w);
            Ok(())
        })
    }

    /// Changes the weight of a weighted variant (in [0, 1]; the weights together at
    /// most 1).
    pub fn set_weight(&self, name: &str, weight: f64) -> Result<()> {
        self.edit(|r, _| {
            let i = r
                .arms
                .iter()
                .skip(1)
                .position(|a| a.name == name)
                .ok_or_else(|| Error::NoSuchVariant(name.into()))?;
            r.arms[i + 1].weight = weight;
            Ok(())
        })
    }

    /// Removes a weighted variant; its traffic goes back to `stable`.
    pub fn remove_variant(&self, name: &str) -> Result<()> {
        self.edit(|r, _| {
            let i = r
                .arms
                .iter()
                .skip(1)
                .position(|a| a.name == name)
                .ok_or_else(|| Error::NoSuchVariant(name.into()))?;
            r.arms.remove(i + 1);
            Ok(())
        })
    }

    /// Makes the weighted variant `name`'s model the `stable` one and removes the
    /// variant (a promotion after a successful canary).
    pub fn promote(&self, name: &str) -> Result<()> {
        self.edit(|r, book| {
            let i = r
                .arms
                .iter()
                .skip(1)
                .position(|a| a.name == name)
                .ok_or_else(|| Error::NoSuchVariant(name.into()))?;
            let arm = r.arms.remove(i + 1);
            r.arms[0] = book.arm(STABLE, arm.model, 1.0);
            Ok(())
        })
    }

    /// Mirrors every request to `model` (its answers are logged, never returned), or
    /// stops mirroring with `None`.
    pub fn set_shadow(&self, model: Option<ServedModel>) -> Result<()> {
        self.edit(|r, book| {
            r.shadow = model.map(|m| book.arm(SHADOW, m, 1.0));
            Ok(())
        })
    }

    /// The variants now: name, model, version, weight.
    pub fn variants(&self) -> Vec<VariantInfo> {
        self.app.routing().variants()
    }

    /// Counters per (variant, model, version) since start, including models swapped out.
    pub fn stats(&self) -> Vec<ArmStats> {
        self.app.book.stats()
    }

    /// Records business outcomes the application observed after answers (clicks,
    /// conversions, revenue), all or nothing; returns how many were recorded. The
    /// in-process twin of `POST /outcomes` (see [`crate::outcome`]).
    pub fn record_outcomes(&self, reports: &[OutcomeReport]) -> Result<usize> {
        self.app
            .answers
            .record(reports, |variant, version| {
                self.app.book.find(variant, version)
            })
            .map_err(|r| Error::InvalidArgument(r.message))
    }

    /// The reported outcomes' sums per (variant, model, version, metric) since start.
    pub fn outcome_stats(&self) -> Vec<OutcomeStats> {
        self.app.book.outcome_stats()
    }

    /// The inference log's counters (`None` without a log).
    pub fn log_counters(&self) -> Option<Arc<LogCounters>> {
        self.app.log_counters.clone()
    }

    /// Adds metric families (or collectors) to this server's `/metrics` page, e.g. a
    /// monitor's gauges: `server.register_metrics(|r| gauges.register(r))`. They are
    /// encoded after the server's own families on every scrape; their names must not
    /// repeat the server's.
    pub fn register_metrics(&self, f: impl FnOnce(&mut prometheus_client::registry::Registry)) {
        self.app.metrics.register_extra(f);
    }

    /// Blocks until SIGINT or SIGTERM arrives (for a command-line server), then returns;
    /// call [`ServerHandle::shutdown`] next.
    pub fn wait_for_signal(&self) -> Result<()> {
        let rt = self
            .runtime
            .as_ref()
            .ok_or_else(|| Error::Server("the server is stopped".into()))?;
        rt.block_on(async {
            #[cfg(unix)]
            {
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                        .map_err(|e| Error::Server(format!("cannot watch SIGTERM: {e}")))?;
                tokio::select! {
                    r = tokio::signal::ctrl_c() => r.map_err(|e| Error::Server(format!("cannot watch SIGINT: {e}"))),
                    _ = term.recv() => Ok(()),
                }
            }
            #[cfg(not(unix))]
            {
                tokio::signal::ctrl_c()
                    .await
                    .map_err(|e| Error::Server(format!("cannot watch Ctrl-C: {e}")))
            }
        })
    }

    /// Stops accepting connections, waits (up to `drain_timeout`) for in-flight
    /// requests to be answered, then writes the queued inference log and stops.
    pub fn shutdown(mut self) -> Result<()> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<()> {
        let mut result = Ok(());
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let (Some(rt), Some(serve)) = (self.runtime.as_ref(), self.serve.take()) {
            let timeout = self.app.config.drain_timeout;
            result = match rt.block_on(async { tokio::time::timeout(timeout, serve).await }) {
                Ok(Ok(Ok(()))) => Ok(()),
                Ok(Ok(Err(e))) => Err(Error::Server(format!("serving failed: {e}"))),
                Ok(Err(e)) => Err(Error::Server(format!("the server task failed: {e}"))),
                Err(_) => Err(Error::Server(format!(
                    "in-flight requests still running after {timeout:?}"
                ))),
            };
        }
        if let Some(rt) = self.runtime.take() {
            // Shadow predictions still running get a moment, then are abandoned.
            rt.shutdown_timeout(Duration::from_secs(2));
        }
        if let Some(log) = self.log.take() {
            log.close();
        }
        result
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Err(e) = self.stop_inner() {
            tracing::warn!(error = %e, "model server stopped with an error");
        }
    }
}

fn routes(app: Arc<App>) -> Router {
    Router::new()
        .route("/invocations", post(invocations))
        .route("/ping", get(ping))
        .route("/health", get(ping))
        .route("/version", get(version))
        .route("/metrics", get(metrics))
        .route("/outcomes", post(outcomes))
        .route("/labels", post(labels))
        .route("/v2", get(v2_server))
        .route("/v2/health/live", get(v2_live))
        .route("/v2/health/ready", get(v2_ready))
        .route("/v2/models/{name}", get(v2_model))
        .route("/v2/models/{name}/ready", get(v2_model_ready))
        .route(
            "/v2/models/{name}/versions/{version}",
            get(v2_model_version),
        )
        .route("/v2/models/{name}/infer", post(v2_infer))
        .route(
            "/v2/models/{name}/versions/{version}/infer",
            post(v2_infer_version),
        )
        .fallback(not_found)
        .with_state(app)
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

async fn ping() -> Response {
    (StatusCode::OK, "\n").into_response()
}

async fn version() -> Response {
    (StatusCode::OK, env!("CARGO_PKG_VERSION")).into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let text = app.metrics.render(app.log_counters.as_deref());
    let mut r = (StatusCode::OK, text).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
    );
    r
}

/// `POST /labels`: delayed labels by request id, appended to the label log
/// ([`crate::label_log`]); 404 when the server keeps none, 400/413 on bad input.
async fn labels(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let Some(sink) = app.labels.clone() else {
        return json_response(
            StatusCode::NOT_FOUND,
            mlflow::error_body(
                "ENDPOINT_NOT_FOUND",
                "This server keeps no labels (start it with a labels file)",
            ),
        );
    };
    let bytes = match read_body(&headers, body, app.config.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return Protocol::Mlflow.error(&e),
    };
    let ts_ms = i64::try_from(mlops_core::now_ms()).unwrap_or(i64::MAX);
    let records = match crate::label_log::parse_body(&bytes, app.config.max_rows, ts_ms) {
        Ok(r) => r,
        Err(e) => return Protocol::Mlflow.error(&InputError::bad_request(e.0)),
    };
    let n = records.len();
    match tokio::task::spawn_blocking(move || sink.append(&records)).await {
        Ok(Ok(())) => json_response(
            StatusCode::OK,
            serde_json::to_vec(&serde_json::json!({ "accepted": n })).unwrap_or_default(),
        ),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "labels could not be written");
            Protocol::Mlflow.error(&internal("the labels could not be stored"))
        }
        Err(_) => Protocol::Mlflow.error(&internal("the labels could not be stored")),
    }
}

async fn not_found() -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        mlflow::error_body(
            "ENDPOINT_NOT_FOUND",
            "No such endpoint on this model server",
        ),
    )
}

async fn v2_server() -> Response {
    json_response(
        StatusCode::OK,
        serde_json::to_vec(&serde_json::json!({
            "name": "mlops-deploy",
            "version": env!("CARGO_PKG_VERSION"),
            "extensions": [],
        }))
        .unwrap_or_default(),
    )
}

async fn v2_live() -> Response {
    json_response(StatusCode::OK, br#"{"live":true}"#.to_vec())
}

async fn v2_ready() -> Response {
    json_response(StatusCode::OK, br#"{"ready":true}"#.to_vec())
}

fn v2_find(app: &App, name: &str, version: Option<&str>) -> Option<ServedModel> {
    let routing = app.routing();
    routing
        .arms
        .iter()
        .map(|a| &a.model)
        .find(|m| m.name() == name && version.is_none_or(|v| v == m.version()))
        .cloned()
}

fn v2_not_found(name: &str) -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        kserve::error_body(&format!("Model with name {name} does not exist.")),
    )
}

async fn v2_model(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response {
    v2_metadata(&app, &name, None)
}

async fn v2_model_version(
    State(app): State<Arc<App>>,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    v2_metadata(&app, &name, Some(&version))
}

fn v2_metadata(app: &App, name: &str, version: Option<&str>) -> Response {
    match v2_find(app, name, version) {
        Some(m) => json_response(
            StatusCode::OK,
            kserve::model_metadata(m.name(), m.version(), m.model().as_ref(), m.schema()),
        ),
        None => v2_not_found(name),
    }
}

async fn v2_model_ready(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response {
    match v2_find(&app, &name, None) {
        Some(_) => json_response(
            StatusCode::OK,
            serde_json::to_vec(&serde_json::json!({"name": name, "ready": true}))
                .unwrap_or_default(),
        ),
        None => v2_not_found(&name),
    }
}

/// `POST /outcomes`: one [`OutcomeReport`] or an array of them (see [`crate::outcome`]).
async fn outcomes(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let bytes = match read_body(&headers, body, app.config.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return Protocol::Mlflow.error(&e),
    };
    // One report or an array of them; parsed once, then read as the shape it has, so
    // the error names what is wrong in that shape.
    let reports = serde_json::from_slice::<serde_json::Value>(&bytes).and_then(|v| {
        if v.is_array() {
            serde_json::from_value::<Vec<OutcomeReport>>(v)
        } else {
            serde_json::from_value::<OutcomeReport>(v).map(|r| vec![r])
        }
    });
    let reports = match reports {
        Ok(r) => r,
        Err(e) => {
            return Protocol::Mlflow.error(&InputError {
                status: 400,
                code: "MALFORMED_REQUEST",
                message: format!(
                    "outcomes: expected {{\"request_id\" | \"variant\"+\"version\", \"metric\", \"value\"}} or an array of them: {e}"
                ),
            });
        }
    };
    match app
        .answers
        .record(&reports, |variant, version| app.book.find(variant, version))
    {
        Ok(n) => json_response(
            StatusCode::OK,
            serde_json::to_vec(&serde_json::json!({ "recorded": n })).unwrap_or_default(),
        ),
        Err(e) => Protocol::Mlflow.error(&e),
    }
}

async fn invocations(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    predict_request(app, Protocol::Mlflow, headers, body).await
}

async fn v2_infer(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    predict_request(app, Protocol::V2 { model: name }, headers, body).await
}

async fn v2_infer_version(
    State(app): State<Arc<App>>,
    Path((name, _version)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // Traffic goes through the variants whatever version is named: the router, not
    // the client, decides which version answers (the answer says which did).
    predict_request(app, Protocol::V2 { model: name }, headers, body).await
}

#[derive(Debug, Clone)]
enum Protocol {
    Mlflow,
    V2 { model: String },
}

impl Protocol {
    fn name(&self) -> &'static str {
        match self {
            Protocol::Mlflow => "mlflow",
            Protocol::V2 { .. } => "kserve-v2",
        }
    }

    fn error(&self, e: &InputError) -> Response {
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
        match self {
            Protocol::Mlflow => json_response(status, mlflow::error_body(e.code, &e.message)),
            Protocol::V2 { .. } => json_response(status, kserve::error_body(&e.message)),
        }
    }
}

struct InFlight<'a>(&'a prometheus_client::metrics::gauge::Gauge);

impl<'a> InFlight<'a> {
    fn new(g: &'a prometheus_client::metrics::gauge::Gauge) -> InFlight<'a> {
        g.inc();
        InFlight(g)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

struct Answered {
    batch: Arc<Batch>,
    prediction: Arc<Prediction>,
    table: Arc<Table>,
    body: Vec<u8>,
}

fn internal(message: &str) -> InputError {
    InputError {
        status: 500,
        code: "INTERNAL_ERROR",
        message: message.to_string(),
    }
}

/// Runs the model on a batch: inline for small batches, on the blocking pool for big
/// ones; a model error about a column is the client's (400), anything else or a panic
/// is a 500 that says nothing of the model's internals.
async fn run_model(model: &ServedModel, batch: Arc<Batch>) -> Result<Prediction, InputError> {
    let cells = batch.rows() * batch.columns().len().max(1);
    let m = model.model().clone();
    let result = if cells <= INLINE_CELLS {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| m.predict_batch(&batch)))
            .map_err(|_| internal("the model failed to predict"))
    } else {
        let b = batch.clone();
        tokio::task::spawn_blocking(move || m.predict_batch(&b))
            .await
            .map_err(|_| internal("the model failed to predict"))
    }?;
    match result {
        Ok(p) if p.len() == batch.rows() => Ok(p),
        Ok(p) => {
            tracing::error!(
                model = model.name(),
                rows = batch.rows(),
                predicted = p.len(),
                "the model predicted another number of rows"
            );
            Err(internal("the model failed to predict"))
        }
        Err(mlops_train::Error::Column { column, .. }) => Err(InputError::invalid(format!(
            "column {column:?}: the model refused its values"
        ))),
        Err(e) => {
            tracing::error!(model = model.name(), error = %e, "prediction failed");
            Err(internal("the model failed to predict"))
        }
    }
}

fn empty_prediction(model: &ServedModel) -> Prediction {
    if model.model().classes().is_empty() {
        Prediction::Values(Vec::new())
    } else {
        Prediction::Classes {
            classes: model.model().classes().to_vec(),
            labels: Vec::new(),
            proba: None,
        }
    }
}

async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<axum::body::Bytes, InputError> {
    let too_large = || InputError {
        status: 413,
        code: "BAD_REQUEST",
        message: format!("The request body is larger than this server's limit of {limit} bytes"),
    };
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit as u64
    {
        drain(body).await;
        return Err(too_large());
    }
    let mut body = body;
    let mut buf = Vec::new();
    loop {
        let Some(frame) = next_frame(&mut body).await else {
            return Ok(buf.into());
        };
        let Ok(frame) = frame else {
            return Err(InputError::bad_request(
                "The request body could not be read",
            ));
        };
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                drain(body).await;
                return Err(too_large());
            }
            buf.extend_from_slice(&data);
        }
    }
}

async fn next_frame(
    body: &mut Body,
) -> Option<Result<http_body::Frame<axum::body::Bytes>, axum::Error>> {
    use axum::body::HttpBody;
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *body).poll_frame(cx)).await
}

/// Reads and discards what is left of a refused body (at most [`DRAIN_BYTES`], for at most
/// [`DRAIN_TIME`]) so the client, which is usually still sending, reads the 413 instead of a
/// connection reset: closing a socket with unread data makes the kernel send RST, and the
/// client then loses the answer it had not yet read.
async fn drain(mut body: Body) {
    let discard = async {
        let mut seen = 0usize;
        while seen < DRAIN_BYTES {
            match next_frame(&mut body).await {
                Some(Ok(frame)) => seen += frame.data_ref().map_or(0, |d| d.len()),
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, discard).await;
}

/// Most bytes of a refused (413) body read and thrown away before answering.
const DRAIN_BYTES: usize = 8 << 20;
/// Longest time spent throwing a refused body away.
const DRAIN_TIME: Duration = Duration::from_secs(2);

async fn answer(
    app: &App,
    proto: &Protocol,
    headers: &HeaderMap,
    body: Body,
    routing: &Routing,
    arm_index: &mut usize,
) -> Result<Answered, InputError> {
    let cfg = &app.config;
    let (table, id) = match proto {
        Protocol::Mlflow => {
            let format =
                mlflow::body_format(headers.get(header::CONTENT_TYPE).map(HeaderValue::as_bytes))?;
            let bytes = read_body(headers, body, cfg.max_body_bytes).await?;
            let parsed = mlflow::parse(format, &bytes)?;
            (parsed.table, None)
        }
        Protocol::V2 { model } => {
            if !routing.arms.iter().any(|a| a.model.name() == model) {
                return Err(InputError {
                    status: 404,
                    code: "RESOURCE_DOES_NOT_EXIST",
                    message: format!("Model with name {model} does not exist."),
                });
            }
            let bytes = read_body(headers, body, cfg.max_body_bytes).await?;
            // Tensors are laid out by the default arm's schema; every arm of one
            // endpoint serves the same inputs.
            let req = kserve::parse_infer(&bytes, routing.arms[0].model.schema())?;
            (req.table, req.id)
        }
    };
    let rows = table.rows();
    if rows > cfg.max_rows {
        return Err(InputError::bad_request(format!(
            "The request has {rows} rows; this server accepts at most {} per request",
            cfg.max_rows
        )));
    }
    if let Some(StickyKey::Field(field)) = &cfg.sticky
        && let Some(v) = table.first_value_of(field)
    {
        let chosen = routing.choose(sticky_hash(v.as_bytes()));
        *arm_index = routing
            .arms
            .iter()
            .position(|a| std::ptr::eq(a, chosen))
            .unwrap_or(0);
    }
    let arm = &routing.arms[*arm_index];
    let batch = Arc::new(arm.model.schema().decode(&table)?);
    let prediction = if rows == 0 {
        empty_prediction(&arm.model)
    } else {
        run_model(&arm.model, batch.clone()).await?
    };
    let model = arm.model.model().as_ref();
    let body = match proto {
        Protocol::Mlflow => mlflow::predictions_body(model, &prediction),
        Protocol::V2 { .. } => kserve::infer_response(
            arm.model.name(),
            arm.model.version(),
            id.as_deref(),
            model,
            &prediction,
        ),
    };
    Ok(Answered {
        batch,
        prediction: Arc::new(prediction),
        table: Arc::new(table),
        body,
    })
}

async fn predict_request(
    app: Arc<App>,
    proto: Protocol,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let start = Instant::now();
    let ts_ms = i64::try_from(mlops_core::now_ms()).unwrap_or(i64::MAX);
    let Ok(permit) = app.limit.clone().try_acquire_owned() else {
        app.metrics.rejected.inc();
        let e = InputError {
            status: 503,
            code: "TEMPORARILY_UNAVAILABLE",
            message: "The server is at its in-flight request limit; retry later".into(),
        };
        let mut r = proto.error(&e);
        r.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(app.config.retry_after_secs),
        );
        return r;
    };
    let in_flight = InFlight::new(&app.metrics.in_flight);
    let request_id = app.request_id(&headers);
    let routing = app.routing();
    let key = match &app.config.sticky {
        Some(StickyKey::Header(h)) => headers.get(h.as_str()).map(|v| sticky_hash(v.as_bytes())),
        _ => None,
    }
    .unwrap_or_else(|| splitmix64(app.seq.fetch_add(1, Ordering::Relaxed) ^ app.nonce));
    let chosen = routing.choose(key);
    let mut arm_index = routing
        .arms
        .iter()
        .position(|a| std::ptr::eq(a, chosen))
        .unwrap_or(0);
    let span = tracing::debug_span!(
        "predict",
        request_id = %request_id,
        protocol = proto.name(),
        variant = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    let outcome = answer(&app, &proto, &headers, body, &routing, &mut arm_index)
        .instrument(span.clone())
        .await;
    let arm = &routing.arms[arm_index];
    let latency = start.elapsed().as_secs_f64();
    let (mut response, status, rows, logged) = match outcome {
        Ok(a) => {
            let rows = a.batch.rows();
            let r = json_response(StatusCode::OK, a.body);
            (r, 200u16, rows, Some((a.batch, a.prediction, a.table)))
        }
        Err(e) => (proto.error(&e), e.status, 0, None),
    };
    drop(in_flight);
    drop(permit);
    span.record("variant", routing.arms[arm_index].name.as_str());
    span.record("status", status);
    span.in_scope(|| tracing::debug!(latency_ms = latency * 1000.0, rows, "answered"));
    let labels = record_request(&app.metrics, arm, status, latency);
    arm.counters.record(status, rows, latency);
    let (inputs, prediction, table) = match logged {
        Some((b, p, t)) => (Some(b), Some(p), Some(t)),
        None => (None, None, None),
    };
    if let Some(log) = &app.log {
        log.send(LogRecord {
            request_id: request_id.clone(),
            ts_ms,
            model: labels.model,
            version: labels.version,
            variant: labels.variant,
            status,
            latency_ms: latency * 1000.0,
            inputs,
            prediction,
        });
    }
    if let (Some(shadow), Some(table)) = (routing.shadow.clone(), table) {
        mirror(app.clone(), shadow, table, request_id.clone(), ts_ms);
    }
    if status == 200 {
        // Before the answer leaves: a report sent right after it finds the request.
        app.answers.remember(&request_id, &arm.counters);
    }
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert(HeaderName::from_static("x-request-id"), v);
    }
    if let Ok(v) = HeaderValue::from_str(&arm.name) {
        h.insert(HeaderName::from_static("x-variant"), v);
    }
    if let Ok(v) = HeaderValue::from_str(arm.model.version()) {
        h.insert(HeaderName::from_static("x-model-version"), v);
    }
    response
}

/// Sends a copy of a request to the shadow arm on the blocking pool, if a shadow slot
/// is free (else counts the skip). Its outcome is logged and counted, never returned.
fn mirror(app: Arc<App>, shadow: Arm, table: Arc<Table>, request_id: String, ts_ms: i64) {
    let Ok(permit) = app.shadow_limit.clone().try_acquire_owned() else {
        app.metrics.shadow_skipped.inc();
        return;
    };
    tokio::spawn(async move {
        let _permit = permit;
        let start = Instant::now();
        let model = shadow.model.clone();
        let job = tokio::task::spawn_blocking(move || {
            let batch = model.schema().decode(&table)?;
            let batch = Arc::new(batch);
            let p = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                model.model().predict_batch(&batch)
            }))
            .map_err(|_| internal("shadow panicked"))?
            .map_err(|e| match e {
                mlops_train::Error::Column { column, .. } => {
                    InputError::invalid(format!("column {column:?}"))
                }
                _ => internal("shadow failed"),
            })?;
            Ok::<_, InputError>((batch, p))
        })
        .await;
        let latency = start.elapsed().as_secs_f64();
        let (status, inputs, prediction) = match job {
            Ok(Ok((b, p))) => (200u16, Some(b), Some(Arc::new(p))),
            Ok(Err(e)) => (e.status, None, None),
            Err(_) => (500, None, None),
        };
        let rows = inputs.as_ref().map_or(0, |b| b.rows());
        shadow.counters.record(status, rows, latency);
        let labels = record_request(&app.metrics, &shadow, status, latency);
        if let Some(log) = &app.log {
            log.send(LogRecord {
                request_id,
                ts_ms,
                model: labels.model,
                version: labels.version,
                variant: labels.variant,
                status,
                latency_ms: latency * 1000.0,
                inputs,
                prediction,
            });
        }
    });
}

/// Counts one answered request of `arm` in the request, latency and error families
/// (primary arms and the shadow alike) and returns the arm's labels.
fn record_request(metrics: &Metrics, arm: &Arm, status: u16, latency: f64) -> ArmLabels {
    let labels = ArmLabels {
        model: arm.model.name().to_string(),
        version: arm.model.version().to_string(),
        variant: arm.name.clone(),
    };
    metrics
        .requests
        .get_or_create(&RequestLabels {
            model: labels.model.clone(),
            version: labels.version.clone(),
            variant: labels.variant.clone(),
            code: status.to_string(),
        })
        .inc();
    metrics.duration.get_or_create(&labels).observe(latency);
    if status >= 500 {
        metrics.prediction_errors.get_or_create(&labels).inc();
    }
    labels
}
