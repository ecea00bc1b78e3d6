//! The command line as a person and a CI job use it: warnings of the SDK on stderr
//! (never in `--json` stdout), `-q`/`-v`/`RUST_LOG`, readable tables, shell
//! completions that the shell accepts, and files written with the umask's modes.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use mlops_core::tracking::{CreateRun, LocalTracker, Metric, RunStatus, Tracker};
use mlops_core::{AliasChange, AuditLog, LocalRegistry, NewVersion, Registry};

fn mlops_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mlops"));
    cmd.args(args).env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run mlops")
}

fn mlops(args: &[&str]) -> Output {
    mlops_with(args, &[])
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A local store with experiment `cli` holding three finished runs with metrics
/// (`acc` in all, `loss` in two, `f1` in one, `aux_*` in one) and a param, plus one
/// run directory whose `meta.yaml` is garbage (the SDK warns and skips it).
fn store_with_runs(root: &Path) -> String {
    let t = LocalTracker::open(root).unwrap();
    let exp = t.create_experiment("cli", None, &[]).unwrap();
    for (i, name) in ["first", "second", "third"].iter().enumerate() {
        let req = CreateRun {
            experiment_id: exp.clone(),
            run_name: Some(name.to_string()),
            start_time: Some(1_764_590_400_000 + i as i64 * 60_000), // 2025-12-01 12:00 UTC
            ..CreateRun::default()
        };
        let info = t.create_run(&req).unwrap();
        let mut metrics = vec![Metric::new("acc", 0.912_345_678 + i as f64 / 100.0, 1, 0)];
        if i > 0 {
            metrics.push(Metric::new("loss", 1234.5678, 1, 0));
        }
        if i == 2 {
            metrics.push(Metric::new("f1", 0.5, 1, 0));
            metrics.push(Metric::new("aux_a", 1.0, 1, 0));
            metrics.push(Metric::new("aux_b", 2.0, 1, 0));
        }
        t.log_batch(
            &info.run_id,
            &metrics,
            &[mlops_core::Param::new("lr", "0.01")],
            &[],
        )
        .unwrap();
        t.update_run(
            &info.run_id,
            RunStatus::Finished,
            Some(1_764_590_400_000 + i as i64 * 60_000 + 12_345),
            None,
        )
        .unwrap();
    }
    let bad = root.join(&exp).join("0badrun0badrun0badrun0badrun0bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("meta.yaml"), "run_id: [unclosed\n  : :\n").unwrap();
    exp
}

#[test]
fn sdk_warnings_go_to_stderr_and_json_stdout_stays_pure() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mlruns");
    store_with_runs(&root);
    let uri = root.to_str().unwrap();

    let out = mlops(&["runs", "list", "cli", "--tracking-uri", uri, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    for l in &lines {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(v["info"]["run_id"].is_string(), "{l}");
    }
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("WARN") && stderr.contains("0badrun0badrun"),
        "the SDK's warning is on stderr: {stderr:?}"
    );
    assert!(!stdout.contains("0badrun"), "{stdout}");

    // The table prints the same warning on stderr too, nothing of it on stdout.
    let out = mlops(&["runs", "list", "cli", "--tracking-uri", uri]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(text(&out.stderr).contains("0badrun"));
    assert!(!text(&out.stdout).contains("0badrun"));

    // -q: errors only; RUST_LOG=off: nothing; -v: info events appear as well.
    let out = mlops(&["-q", "runs", "list", "cli", "--tracking-uri", uri, "--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stderr), "", "-q silences warnings");
    let out = mlops_with(
        &["runs", "list", "cli", "--tracking-uri", uri],
        &[("RUST_LOG", "off")],
    );
    assert_eq!(text(&out.stderr), "", "RUST_LOG=off silences warnings");
    let out = mlops_with(
        &["runs", "list", "cli", "--tracking-uri", uri],
        &[("RUST_LOG", "mlops_core=error")],
    );
    assert_eq!(text(&out.stderr), "", "RUST_LOG filters by target");
}

#[test]
fn runs_list_is_a_readable_table() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mlruns");
    store_with_runs(&root);
    let uri = root.to_str().unwrap();

    let out = mlops_with(
        &["runs", "list", "cli", "--tracking-uri", uri],
        &[("RUST_LOG", "off")],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    // Default metric columns: the 4 keys most runs have (acc 3, loss 2, then by name).
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "RUN", "ID", "NAME", "STATUS", "START", "(UTC)", "DURATION", "acc", "loss", "aux_a",
            "aux_b"
        ],
        "{stdout}"
    );
    // Newest first; UTC dates, durations, 4 significant digits, `-` where absent.
    assert!(lines[1].contains("third"), "{stdout}");
    assert!(lines[1].contains("2025-12-01 12:02:00"), "{stdout}");
    assert!(lines[1].contains("12.3s"), "{stdout}");
    assert!(lines[1].contains("0.9323"), "{stdout}");
    assert!(lines[1].contains("1235"), "{stdout}");
    assert!(
        lines[3].contains("first") && lines[3].contains("0.9123"),
        "{stdout}"
    );
    assert!(lines[3].split_whitespace().filter(|c| *c == "-").count() >= 3);
    assert!(lines.iter().all(|l| l.len() < 160), "{stdout}");
    assert!(
        !stdout.contains("0.912345678"),
        "no full precision in the table"
    );

    // Chosen columns, params too.
    let out = mlops_with(
        &[
            "runs",
            "list",
            "cli",
            "--tracking-uri",
            uri,
            "--metrics",
            "f1,acc",
            "--params",
            "lr",
        ],
        &[("RUST_LOG", "off")],
    );
    let stdout = text(&out.stdout);
    let header: Vec<&str> = stdout.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(&header[header.len() - 3..], ["f1", "acc", "lr"], "{stdout}");
    assert!(
        stdout
            .lines()
            .nth(1)
            .unwrap()
            .ends_with("0.5  0.9323  0.01"),
        "{stdout}"
    );

    // --json keeps full precision.
    let out = mlops_with(
        &["runs", "list", "cli", "--tracking-uri", uri, "--json"],
        &[("RUST_LOG", "off")],
    );
    let first: serde_json::Value =
        serde_json::from_str(text(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(
        first["data"]["metrics"]["acc"]["value"].as_f64(),
        Some(0.912_345_678)
    );
}

#[test]
fn registry_and_audit_tables() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mlruns");
    let reg = LocalRegistry::open(&root).unwrap();
    reg.create_model("fraud", Some("line one\nline two"), &BTreeMap::new())
        .unwrap();
    for i in 0..2 {
        let d = reg
            .artifact_store()
            .put_bytes(format!("pkg {i}").as_bytes())
            .unwrap();
        reg.create_version("fraud", &NewVersion::new(d, format!("file:///pkg/{i}")))
            .unwrap();
    }
    reg.set_alias("fraud", "champion", 1, &AliasChange::new("first").by("ci"))
        .unwrap();
    reg.set_alias("fraud", "champion", 2, &AliasChange::new("better").by("ci"))
        .unwrap();
    let uri = root.to_str().unwrap();

    let out = mlops(&["models", "list", "--tracking-uri", uri]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let s = text(&out.stdout);
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "one line per model, line breaks flattened: {s}"
    );
    assert!(lines[0].starts_with("NAME"), "{s}");
    assert!(lines[1].contains("champion=v2") && lines[1].contains("line one line two"));

    let out = mlops(&["models", "versions", "fraud", "--tracking-uri", uri]);
    let s = text(&out.stdout);
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines.len(), 3, "{s}");
    assert!(lines[0].split_whitespace().next() == Some("VERSION"), "{s}");
    assert!(lines[1].trim_start().starts_with("2 ") && lines[1].contains("champion"));
    let date = |l: &str| {
        l.split_whitespace()
            .any(|w| w.len() == 10 && w.as_bytes()[4] == b'-' && w.as_bytes()[7] == b'-')
    };
    assert!(date(lines[1]), "UTC date in {s}");

    let out = mlops(&[
        "models",
        "history",
        "fraud",
        "champion",
        "--tracking-uri",
        uri,
    ]);
    let s = text(&out.stdout);
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines.len(), 3, "{s}");
    assert!(lines[0].starts_with("TIME (UTC)"), "{s}");
    assert!(lines[2].contains("v1") && lines[2].contains("v2") && lines[2].contains("better"));

    let log = root.with_extension("mlops").join("audit.jsonl");
    let out = mlops(&["audit", "show", log.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let s = text(&out.stdout);
    let lines: Vec<&str> = s.lines().collect();
    let records = AuditLog::open(&log).records().unwrap();
    assert_eq!(lines.len(), records.len() + 1, "{s}");
    assert!(
        lines[0].split_whitespace().eq([
            "SEQ", "TIME", "(UTC)", "ACTOR", "ACTION", "CAUSE", "SUBJECT", "DETAILS"
        ]
        .iter()
        .copied())
    );
    assert!(date(lines[1]), "{s}");
    assert!(!s.contains('{'), "payloads summarised, not raw JSON: {s}");
    let out = mlops(&["audit", "show", "--json", log.to_str().unwrap()]);
    for l in text(&out.stdout).lines() {
        serde_json::from_str::<serde_json::Value>(l).unwrap();
    }
}

#[test]
fn bash_sources_the_completion_script() {
    let dir = tempfile::tempdir().unwrap();
    let out = mlops(&["completions", "bash"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let script = dir.path().join("mlops.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    // Sourced by a real bash without error, it registers a completion for `mlops`, and
    // completing `mlops mo` offers `models`.
    let check = format!(
        "set -e; source '{}'; complete -p mlops; \
         COMP_WORDS=(mlops mo); COMP_CWORD=1; COMP_LINE='mlops mo'; COMP_POINT=8; \
         _mlops mlops mo mlops; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &check])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("-F _mlops mlops"), "{stdout}");
    assert!(stdout.lines().any(|l| l == "models"), "{stdout}");

    for (shell, marker) in [("zsh", "#compdef mlops"), ("fish", "complete -c mlops")] {
        let out = mlops(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert!(text(&out.stdout).contains(marker), "{shell}");
    }
    let out = mlops(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "unknown shell is a usage error");
}

/// Every file and directory under `root` has the mode a plain create gives under `mask`.
fn check_modes(root: &Path, mask: u32) -> usize {
    let mut n = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let md = std::fs::symlink_metadata(e.path()).unwrap();
            let mode = md.permissions().mode() & 0o7777;
            let want = if md.is_dir() { 0o777 } else { 0o666 } & !mask;
            assert_eq!(mode, want, "{} under umask {mask:03o}", e.path().display());
            if md.is_dir() {
                stack.push(e.path());
            } else {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn reports_and_snapshots_get_the_umask_modes() {
    for umask in ["022", "077"] {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("in");
        std::fs::create_dir(&data).unwrap();
        let mut csv = String::from("x,c\n");
        for i in 0..50 {
            csv.push_str(&format!("{},{}\n", i % 7, ["a", "b"][i % 2]));
        }
        std::fs::write(data.join("d.csv"), csv).unwrap();
        let out_dir = dir.path().join("out");
        std::fs::create_dir(&out_dir).unwrap();
        std::fs::set_permissions(&out_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let csv = data.join("d.csv");
        let exe = env!("CARGO_BIN_EXE_mlops");
        for args in [
            vec![
                "drift",
                "--reference",
                csv.to_str().unwrap(),
                "--current",
                csv.to_str().unwrap(),
                "--html",
                out_dir.join("reports/drift.html").to_str().unwrap(),
            ],
            vec![
                "snapshot",
                csv.to_str().unwrap(),
                "--store",
                out_dir.join("store").to_str().unwrap(),
            ],
        ] {
            let out = Command::new("sh")
                .arg("-c")
                .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
                .arg(exe)
                .args(&args)
                .output()
                .unwrap();
            assert!(out.status.code() == Some(0), "{args:?}: {out:?}");
        }
        let mask = u32::from_str_radix(umask, 8).unwrap();
        let files = check_modes(&out_dir, mask);
        assert!(out_dir.join("reports/drift.html").is_file());
        assert!(files >= 3, "report, snapshot objects: {files}");
    }
}
