//! Byte-for-byte agreement with cloudflare/circl v1.6.1 (the library the Go reference uses)
//! on the committed vectors from tests/interop/kyber.

mod common;

#[test]
fn every_committed_circl_vector_matches_byte_for_byte() {
    let file = common::parse(&common::committed_vectors_json());
    assert!(
        file.source.contains("circl v1.6.1"),
        "unexpected source {}",
        file.source
    );
    assert_eq!(file.vectors.len(), 12);
    for vector in &file.vectors {
        common::check_vector(vector);
    }
}
