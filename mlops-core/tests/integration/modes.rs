//! File modes: every file and directory the SDK writes gets the mode a plain create
//! gives under the process umask (`0666`/`0777` masked), as MLflow's file store does.
//!
//! The umask is per process, so each case runs [`crate::child::mode_writer`] in a child
//! started through `sh -c 'umask MASK; exec ...'`. The child writes one of each kind of
//! file (tracking meta, params, tags, metric appends, artifacts, the spool, registry
//! models/versions/tags/aliases, a renamed model, alias history, the lock files,
//! artifact-store objects, exports and package copies between stores, the audit log and
//! its head, the `fs` helpers) and checks the mode of everything under its root.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// Runs the writer child under `umask` and returns the files it checked.
fn run_under_umask(umask: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().expect("test binary path");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(exe)
        .args([
            "--exact",
            "child::mode_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("MLOPS_CHILD_MODES_ROOT", dir.path())
        .env("MLOPS_CHILD_UMASK", umask)
        .output()
        .expect("spawn child");
    assert!(
        out.status.success(),
        "child under umask {umask} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The child lists what it checked; check it again from here (our own umask is
    // irrelevant to reading modes).
    let mask = u32::from_str_radix(umask, 8).unwrap();
    let checked = check_tree(dir.path(), mask);
    assert!(
        checked.len() > 20,
        "the child wrote too little: {checked:?}"
    );
    checked
}

/// Asserts that every file under `root` has mode `0666 & !mask` and every directory
/// `0777 & !mask`; returns the relative paths of the files.
pub fn check_tree(root: &Path, mask: u32) -> Vec<String> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let md = std::fs::symlink_metadata(e.path()).unwrap();
            let mode = md.permissions().mode() & 0o7777;
            let rel = e
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if md.is_dir() {
                assert_eq!(
                    mode,
                    0o777 & !mask,
                    "directory {rel}: {mode:o} under umask {mask:03o}"
                );
                stack.push(e.path());
            } else {
                assert!(md.is_file(), "{rel} is not a regular file");
                assert_eq!(
                    mode,
                    0o666 & !mask,
                    "file {rel}: {mode:o} under umask {mask:03o}"
                );
                files.push(rel);
            }
        }
    }
    files.sort();
    files
}

/// What the child must have written (each kind at least once), as path patterns:
/// `*` stands for one path component.
const KINDS: &[&str] = &[
    "mlruns/0/meta.yaml",
    "mlruns/*/meta.yaml",
    "mlruns/*/tags/team",
    "mlruns/*/*/meta.yaml",
    "mlruns/*/*/params/lr",
    "mlruns/*/*/params/opt/name",
    "mlruns/*/*/tags/stage",
    "mlruns/*/*/metrics/loss",
    "mlruns/*/*/artifacts/notes.txt",
    "mlruns/*/*/artifacts/tree/a/b.txt",
    "mlruns/*/*/.meta.lock",
    "mlruns/.mlops-experiments.lock",
    "mlruns/models/renamed/meta.yaml",
    "mlruns/models/renamed/tags/owner",
    "mlruns/models/renamed/aliases/champion",
    "mlruns/models/renamed/version-1/meta.yaml",
    "mlruns/models/renamed/version-1/tags/mlops.package_digest",
    "mlruns.mlops/registry.lock",
    "mlruns.mlops/registry/renamed/alias_history.jsonl",
    "mlruns.mlops/audit.jsonl",
    "mlruns.mlops/audit.jsonl.head",
    "mlruns.mlops/audit.jsonl.lock",
    "mlruns.mlops/store/objects/*/*",
    "copied/objects/*/*",
    "export/pkg/model.bin",
    "export/pkg/sub/conf.json",
    "spool/*",
    "fs/atomic.txt",
    "fs/new.txt",
    "fs/copy/tree/a/b.txt",
    "downloaded/tree/a/b.txt",
];

fn matches(pattern: &str, path: &str) -> bool {
    let p: Vec<&str> = pattern.split('/').collect();
    let f: Vec<&str> = path.split('/').collect();
    p.len() == f.len() && p.iter().zip(&f).all(|(a, b)| *a == "*" || a == b)
}

fn check_kinds(files: &[String]) {
    for k in KINDS {
        assert!(
            files.iter().any(|f| matches(k, f)),
            "no file of kind {k} was written; files: {files:#?}"
        );
    }
}

#[test]
fn files_get_plain_create_modes_under_umask_022() {
    let files = run_under_umask("022");
    check_kinds(&files);
}

#[test]
fn files_get_plain_create_modes_under_umask_077() {
    let files = run_under_umask("077");
    check_kinds(&files);
}

#[test]
fn files_get_plain_create_modes_under_umask_002() {
    // Group-writable, as a team's shared store is often set up.
    let files = run_under_umask("002");
    check_kinds(&files);
}
