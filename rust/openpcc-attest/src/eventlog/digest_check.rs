//! Hashing event data against the event's digests, for the types whose data is what was measured.

use super::types::{
    Event, HashAlg, EV_ACTION, EV_EFI_ACTION, EV_EFI_GPT_EVENT, EV_EFI_VARIABLE_AUTHORITY,
    EV_EFI_VARIABLE_BOOT, EV_EFI_VARIABLE_BOOT2, EV_EFI_VARIABLE_DRIVER_CONFIG, EV_IPL,
    EV_SEPARATOR, EV_S_CRTM_VERSION,
};
use super::uefi::{variable_contents, GRUB_PREFIXES};

const EV_NONHOST_INFO: u32 = 0x11;

/// The outcome of hashing one event's data against its digests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataCheck {
    /// Every digest equals the hash of the event data.
    Match,
    /// Every digest equals the hash of the variable's contents only: firmware such as GCE's OVMF
    /// measures `EV_EFI_VARIABLE_BOOT` that way, so the GUID and name are not bound by the digest.
    MatchVariableContents,
    /// Every digest equals the hash of the string GRUB measured, which is the data minus its
    /// `grub_cmd: ` / `kernel_cmdline: ` / `module_cmdline: ` prefix and trailing NUL.
    MatchGrubString,
    /// The data is the measured content, but a digest differs: the log lies.
    Mismatch,
    /// The digest differs for a type some firmware measures differently from the spec
    /// (`EV_EFI_VARIABLE_AUTHORITY`, `EV_S_CRTM_VERSION`, `EV_NONHOST_INFO`): reported, not fatal.
    AdvisoryMismatch,
    /// The data describes the measured object (an image, a table, a firmware blob) rather than
    /// being it, so it cannot be checked; or the event is `EV_NO_ACTION`.
    NotApplicable,
}

impl DataCheck {
    /// Stable name used in claims and the Python API.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            DataCheck::Match => "match",
            DataCheck::MatchVariableContents => "match-variable-contents",
            DataCheck::MatchGrubString => "match-grub-string",
            DataCheck::Mismatch => "mismatch",
            DataCheck::AdvisoryMismatch => "advisory-mismatch",
            DataCheck::NotApplicable => "not-applicable",
        }
    }

    /// Whether this outcome makes the log unacceptable.
    #[must_use]
    pub fn is_failure(self) -> bool {
        self == DataCheck::Mismatch
    }
}

/// Hashes the event's data with every bank the event carries a digest for. Digests of algorithms
/// this crate cannot compute (say SM3) are ignored; an event with none it can compute is
/// `NotApplicable`.
#[must_use]
pub fn check_event_data(event: &Event<'_>) -> DataCheck {
    match event.event_type {
        EV_SEPARATOR
        | EV_ACTION
        | EV_EFI_ACTION
        | EV_EFI_VARIABLE_DRIVER_CONFIG
        | EV_EFI_GPT_EVENT => strict(all_match(event, &[event.data]), DataCheck::Match),
        EV_EFI_VARIABLE_BOOT | EV_EFI_VARIABLE_BOOT2 => check_boot_variable(event),
        EV_IPL => check_grub_string(event),
        EV_EFI_VARIABLE_AUTHORITY | EV_S_CRTM_VERSION | EV_NONHOST_INFO => {
            match all_match(event, &[event.data]) {
                Some(true) => DataCheck::Match,
                Some(false) => DataCheck::AdvisoryMismatch,
                None => DataCheck::NotApplicable,
            }
        }
        _ => DataCheck::NotApplicable,
    }
}

fn strict(outcome: Option<bool>, on_match: DataCheck) -> DataCheck {
    match outcome {
        Some(true) => on_match,
        Some(false) => DataCheck::Mismatch,
        None => DataCheck::NotApplicable,
    }
}

fn check_boot_variable(event: &Event<'_>) -> DataCheck {
    match all_match(event, &[event.data]) {
        Some(true) => DataCheck::Match,
        None => DataCheck::NotApplicable,
        Some(false) => match variable_contents(event.data) {
            Some(contents) => strict(
                all_match(event, &[contents]),
                DataCheck::MatchVariableContents,
            ),
            None => DataCheck::Mismatch,
        },
    }
}

/// GRUB records are checkable; other `EV_IPL` data (shim's "`MokList`", file paths whose digest is
/// of the file) is not.
fn check_grub_string(event: &Event<'_>) -> DataCheck {
    let Some(rest) = GRUB_PREFIXES
        .iter()
        .find_map(|p| event.data.strip_prefix(p.as_bytes()))
    else {
        return DataCheck::NotApplicable;
    };
    let measured = rest.strip_suffix(b"\0").unwrap_or(rest);
    strict(all_match(event, &[measured]), DataCheck::MatchGrubString)
}

/// `Some(true)` when every computable digest equals the hash of `parts`, `Some(false)` when one
/// differs, `None` when the event carries no digest this crate can compute.
fn all_match(event: &Event<'_>, parts: &[&[u8]]) -> Option<bool> {
    let mut any = false;
    for (alg_id, digest) in &event.digests {
        let Some(alg) = HashAlg::from_id(*alg_id) else {
            continue;
        };
        any = true;
        if alg.digest_parts(parts.iter().copied()).as_slice() != *digest {
            return Some(false);
        }
    }
    any.then_some(true)
}
