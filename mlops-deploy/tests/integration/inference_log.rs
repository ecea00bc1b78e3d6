//! The inference-log reader: segment naming, ordering, diagonal concatenation.

use mlops_deploy::inference_log::{list_segments, scan};

use crate::util::write_segment;
use polars::prelude::*;

#[test]
fn segments_are_read_in_name_order_and_concatenated_diagonally() {
    let dir = tempfile::tempdir().unwrap();
    let mut a =
        df!("request_id" => ["a0", "a1"], "row" => [0u32, 0], "input.x" => [1.0, 2.0]).unwrap();
    let mut b = df!("request_id" => ["b0"], "row" => [0u32], "input.y" => ["u"]).unwrap();
    // written out of order; the reader orders by file name
    write_segment(dir.path(), 2, &mut b);
    write_segment(dir.path(), 0, &mut a);
    // anything else is ignored: a temp file, another name, a short number
    std::fs::write(
        dir.path().join(".segment-00000000000000000009.parquet.tmp"),
        b"junk",
    )
    .unwrap();
    std::fs::write(dir.path().join("segment-1.parquet"), b"junk").unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
    assert_eq!(list_segments(dir.path()).unwrap().len(), 2);
    let df = scan(dir.path()).unwrap().collect().unwrap();
    assert_eq!(df.height(), 3);
    let ids: Vec<Option<&str>> = df
        .column("request_id")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(ids, [Some("a0"), Some("a1"), Some("b0")]);
    assert_eq!(df.column("input.x").unwrap().null_count(), 1);
    assert_eq!(df.column("input.y").unwrap().null_count(), 2);
}

#[test]
fn empty_directory_is_an_empty_log_and_a_conflicting_dtype_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(scan(dir.path()).unwrap().collect().unwrap().height(), 0);
    let mut a = df!("input.x" => [1.0]).unwrap();
    let mut b = df!("input.x" => ["text"]).unwrap();
    write_segment(dir.path(), 0, &mut a);
    write_segment(dir.path(), 1, &mut b);
    let e = scan(dir.path()).err().expect("dtype conflict");
    let msg = e.to_string();
    assert!(
        msg.contains("segment-00000000000000000001.parquet") && msg.contains("input.x"),
        "{msg}"
    );
}
