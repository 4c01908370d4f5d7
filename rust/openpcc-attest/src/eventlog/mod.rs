//! TCG PC Client event logs (the UEFI measured-boot log): parse, decode, replay and verify.
//!
//! Two layouts exist. A *crypto-agile* log starts with a SHA-1-format header record whose data is
//! the "Spec ID Event03" structure listing every digest algorithm and its size; every later record
//! is a `TCG_PCR_EVENT2` carrying one digest per algorithm. A *SHA-1-only* log (TPM 1.2 style,
//! no Spec ID header) is made of `TCG_PCClientPCREvent` records throughout.
//!
//! Replay starts every register at zero, except PCR 0 when an `EV_NO_ACTION` "`StartupLocality`"
//! event says the CRTM ran at locality 3 or 4: then PCR 0 starts with that locality in its last
//! byte. `EV_NO_ACTION` events are never extended.
//!
//! Unlike the reference (which trusts a node-side parse, spec §12.2 item 2), the event data is
//! hashed and compared with its digest for the event types whose data is the measured content.

mod digest_check;
mod parse;
pub(crate) mod reader;
mod types;
mod uefi;
mod verify;

#[cfg(test)]
mod tests;

pub use digest_check::{check_event_data, DataCheck};
pub use parse::parse;
pub use types::{event_type_name, Event, EventLog, HashAlg, LogFormat, SpecId};
pub use uefi::{decode_event_data, kernel_cmdline, DecodedData, ImageLoad, VariableData};
pub use verify::{
    event_json, events_json, pcrs_json, replay, replay_parsed, verify, ExpectedPcrs, Pcrs,
};

/// Why an event log failed to parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventLogError {
    /// The log ended inside a record.
    #[error("truncated {what} at offset {offset}")]
    Truncated {
        /// The field that was cut short.
        what: &'static str,
        /// Offset of the record holding it.
        offset: usize,
    },
    /// The log holds no record at all.
    #[error("empty event log")]
    Empty,
    /// The Spec ID header is malformed.
    #[error("bad spec id event: {0}")]
    BadSpecId(&'static str),
    /// A crypto-agile record names an algorithm absent from the Spec ID table.
    #[error("event {index} uses digest algorithm {alg:#06x} not declared in the spec id event")]
    UndeclaredAlgorithm {
        /// Event index (0 is the header record).
        index: usize,
        /// The `TPM_ALG_ID`.
        alg: u16,
    },
    /// A crypto-agile record repeats an algorithm or declares more digests than the table has.
    #[error("event {index} has a bad digest list: {reason}")]
    BadDigestList {
        /// Event index.
        index: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// An event lacks the digest of a bank the Spec ID event declares, so that bank cannot be replayed.
    #[error("event {index} has no {bank} digest")]
    MissingDigest {
        /// Event index.
        index: usize,
        /// Bank name.
        bank: &'static str,
    },
    /// More records than any real boot produces: refuse rather than grow without bound.
    #[error("more than {0} events")]
    TooManyEvents(usize),
}
