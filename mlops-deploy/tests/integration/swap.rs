//! Hot swaps under load: a load generator keeps requests flowing while the stable
//! model is swapped back and forth and a canary's weight moves; no request fails or
//! goes unanswered, and every answer is wholly one model's.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use mlops_train::Algorithm;

use crate::common::*;

#[test]
fn repeated_swaps_under_load_fail_no_request_and_never_mix_models() {
    let a = wine_model(Algorithm::logistic());
    let b = wine_model(Algorithm::forest(7, Some(4)));
    let (from, to) = (0, 100);
    let want_a = expected_labels(&a, from, to);
    let want_b = expected_labels(&b, from, to);
    assert_ne!(
        want_a, want_b,
        "the two models must disagree somewhere to detect a mix"
    );
    let served_a = served(a, "1");
    let served_b = served(b, "2");
    let server = start(
        mlops_deploy::ServerConfig {
            workers: Some(2),
            ..mlops_deploy::ServerConfig::default()
        },
        served_a.clone(),
    );
    let url = format!("{}/invocations", server.url());
    let body = split_body(from, to);
    let stop = AtomicBool::new(false);
    let sent = AtomicU64::new(0);
    let answered = AtomicU64::new(0);
    let failures = std::sync::Mutex::new(Vec::<String>::new());
    let by_version = [AtomicU64::new(0), AtomicU64::new(0)];
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let c = client();
                // Bounded: the load stops with the swaps, or after 20,000 requests.
                for _ in 0..20_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    sent.fetch_add(1, Ordering::Relaxed);
                    let r = c
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send();
                    let r = match r {
                        Ok(r) => r,
                        Err(e) => {
                            failures.lock().unwrap().push(format!("transport: {e}"));
                            continue;
                        }
                    };
                    let status = r.status().as_u16();
                    let version = r.headers()["x-model-version"].to_str().unwrap().to_string();
                    let v: serde_json::Value = r.json().unwrap();
                    answered.fetch_add(1, Ordering::Relaxed);
                    if status != 200 {
                        failures.lock().unwrap().push(format!("status {status}: {v}"));
                        continue;
                    }
                    let got = labels_of(&v);
                    let (want, slot) = match version.as_str() {
                        "1" => (&want_a, 0),
                        "2" => (&want_b, 1),
                        other => panic!("unknown version {other}"),
                    };
                    by_version[slot].fetch_add(1, Ordering::Relaxed);
                    if &got != want {
                        let other = if slot == 0 { &want_b } else { &want_a };
                        failures.lock().unwrap().push(format!(
                            "answer labelled version {version} is not its model's (equals the other: {})",
                            &got == other
                        ));
                    }
                }
            });
        }
        // 40 swaps of stable and 40 canary weight changes while the load runs.
        std::thread::sleep(Duration::from_millis(100));
        for i in 0..40 {
            let next = if i % 2 == 0 {
                served_b.clone()
            } else {
                served_a.clone()
            };
            server.swap("stable", next).unwrap();
            let canary = if i % 2 == 0 {
                served_a.clone()
            } else {
                served_b.clone()
            };
            server
                .set_variant("canary", canary, f64::from(i % 5) / 5.0)
                .unwrap();
            std::thread::sleep(Duration::from_millis(25));
        }
        server.remove_variant("canary").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        stop.store(true, Ordering::Relaxed);
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} failures, first: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    let (sent, answered) = (
        sent.load(Ordering::Relaxed),
        answered.load(Ordering::Relaxed),
    );
    assert_eq!(sent, answered, "requests dropped");
    assert!(sent > 100, "too little load: {sent}");
    assert!(by_version.iter().all(|n| n.load(Ordering::Relaxed) > 0));
    let stats = server.stats();
    let total: u64 = stats.iter().map(|s| s.requests).sum();
    assert_eq!(total, sent);
    assert!(
        stats
            .iter()
            .all(|s| s.server_errors == 0 && s.client_errors == 0)
    );
    server.shutdown().unwrap();
}
