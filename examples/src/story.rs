//! What the story examples (`recommendation`, `fraud_detection`) share: a seeded random
//! source for the simulated world, progress output, and a client of the model server
//! that scores one row per request the way an application does.
//!
//! Progress is a bar when stderr is a terminal and plain lines otherwise (CI logs, pipes),
//! so a run reads well in both places.

use std::io::IsTerminal;
use std::time::Instant;

use rand_distr::{Distribution, Normal, Uniform};
use rand_pcg::Pcg64Mcg;
use rand_pcg::rand_core::SeedableRng;
use serde_json::{Value, json};

/// A seeded random source for the simulated world (same seed, same world).
#[derive(Debug, Clone)]
pub struct Rng {
    inner: Pcg64Mcg,
}

impl Rng {
    /// A source seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng {
            inner: Pcg64Mcg::seed_from_u64(seed),
        }
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        match Uniform::new(0.0, 1.0) {
            Ok(u) => u.sample(&mut self.inner),
            Err(_) => 0.5,
        }
    }

    /// Standard normal.
    pub fn normal(&mut self) -> f64 {
        match Normal::new(0.0, 1.0) {
            Ok(n) => n.sample(&mut self.inner),
            Err(_) => 0.0,
        }
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// An index drawn with the given (unnormalised, non-negative) weights.
    pub fn pick(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.uniform() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len().saturating_sub(1)
    }
}

/// The exit code of a story example: 0 when the story went as told (`Ok(true)`), 1 when
/// it did not (said on stdout) or an error stopped it (named on stderr).
pub fn exit_code(
    name: &str,
    outcome: Result<bool, Box<dyn std::error::Error>>,
) -> std::process::ExitCode {
    match outcome {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => {
            println!("\nThe story did not go as told (see above).");
            std::process::ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("{name}: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

/// The logistic function.
pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Progress of a phase: an `indicatif` bar on a terminal, a line per tenth otherwise.
#[derive(Debug)]
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    label: String,
    total: u64,
    done: u64,
    next_line: u64,
    started: Instant,
}

impl Progress {
    /// Starts a phase of `total` steps.
    pub fn new(label: &str, total: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = indicatif::ProgressBar::new(total);
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("{prefix:>12} [{bar:36}] {pos}/{len} {msg}")
            {
                b.set_style(style.progress_chars("=> "));
            }
            b.set_prefix(label.to_string());
            b
        });
        Progress {
            bar,
            label: label.to_string(),
            total: total.max(1),
            done: 0,
            next_line: 0,
            started: Instant::now(),
        }
    }

    /// Advances by `n` steps, with a short status message.
    pub fn inc(&mut self, n: u64, msg: &str) {
        self.done += n;
        match &self.bar {
            Some(b) => {
                b.set_message(msg.to_string());
                b.inc(n);
            }
            None => {
                if self.done >= self.next_line {
                    eprintln!(
                        "{:>12} {:>3}% {}/{} {msg}",
                        self.label,
                        100 * self.done.min(self.total) / self.total,
                        self.done,
                        self.total
                    );
                    self.next_line = self.done + self.total / 10;
                }
            }
        }
    }

    /// Ends the phase with a closing message (printed in both modes).
    pub fn finish(self, msg: &str) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        eprintln!(
            "{:>12} done in {:.1} s: {msg}",
            self.label,
            self.started.elapsed().as_secs_f64()
        );
    }
}

/// One answer of the model server.
#[derive(Debug, Clone)]
pub struct Answer {
    /// `X-Request-Id` (ours, echoed back).
    pub request_id: String,
    /// `X-Variant`: which arm answered (`stable`, `canary`).
    pub variant: String,
    /// `X-Model-Version`.
    pub version: String,
    /// The prediction (a label for a classifier).
    pub prediction: String,
}

/// A blocking client of the model server's MLflow scoring endpoint.
#[derive(Debug, Clone)]
pub struct Scorer {
    client: reqwest::blocking::Client,
    base: String,
}

impl Scorer {
    /// A client of the server at `base` (`http://127.0.0.1:PORT`).
    pub fn new(base: &str) -> Result<Scorer, reqwest::Error> {
        Ok(Scorer {
            client: reqwest::blocking::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()?,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    /// Scores one row (`columns` and the row's values) as request `request_id`, routed
    /// by `user` when the server is sticky (`X-User-Id`).
    pub fn score(
        &self,
        request_id: &str,
        user: Option<&str>,
        columns: &[&str],
        row: Vec<Value>,
    ) -> Result<Answer, Box<dyn std::error::Error + Send + Sync>> {
        let body = json!({"dataframe_split": {"columns": columns, "data": [row]}});
        let mut req = self
            .client
            .post(format!("{}/invocations", self.base))
            .header("x-request-id", request_id)
            .json(&body);
        if let Some(u) = user {
            req = req.header("x-user-id", u);
        }
        let resp = req.send()?;
        let status = resp.status();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let (variant, version, rid) = (
            header("x-variant"),
            header("x-model-version"),
            header("x-request-id"),
        );
        let v: Value = resp.json()?;
        if !status.is_success() {
            return Err(format!("{request_id}: {status}: {v}").into());
        }
        let p = &v["predictions"][0];
        let prediction = p.as_str().map(str::to_string).unwrap_or_else(|| {
            p.as_f64()
                .map(|x| x.to_string())
                .unwrap_or_else(|| p.to_string())
        });
        Ok(Answer {
            request_id: rid,
            variant,
            version,
            prediction,
        })
    }

    /// Reports outcomes (`POST /outcomes`): `(request id, metric, value)` each.
    pub fn report(
        &self,
        outcomes: &[(String, &str, f64)],
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let body: Vec<Value> = outcomes
            .iter()
            .map(|(id, metric, value)| json!({"request_id": id, "metric": metric, "value": value}))
            .collect();
        let resp = self
            .client
            .post(format!("{}/outcomes", self.base))
            .json(&body)
            .send()?;
        if !resp.status().is_success() {
            let status = resp.status();
            return Err(format!("POST /outcomes: {status}: {}", resp.text()?).into());
        }
        Ok(())
    }
}
