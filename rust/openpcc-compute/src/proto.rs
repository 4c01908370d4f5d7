//! The protobuf messages the compute layer and the router exchange (spec §11), generated at build time from
//! `proto/csprotos/*.proto`. Every singular field is `optional` (explicit presence, as the reference's
//! Edition 2023 files have), so a field set to its zero value is still serialized.
#![allow(missing_docs, clippy::pedantic, unreachable_pub)]

include!(concat!(env!("OUT_DIR"), "/csprotos.rs"));
