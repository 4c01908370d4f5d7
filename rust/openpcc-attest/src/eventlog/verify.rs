//! Replay and the event-log verdict.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::digest_check::{check_event_data, DataCheck};
use super::parse::parse;
use super::types::{Event, EventLog, HashAlg, EV_NO_ACTION};
use super::uefi::{decode_event_data, kernel_cmdline, startup_locality, DecodedData};
use super::EventLogError;
use crate::Verdict;

/// PCR values per bank: bank → PCR index → value.
pub type Pcrs = BTreeMap<HashAlg, BTreeMap<u32, Vec<u8>>>;
/// PCR values a quote attests, in the same shape; compared with the replay.
pub type ExpectedPcrs = Pcrs;

/// Replays every bank of a raw log. See [`replay_parsed`].
pub fn replay(log: &[u8]) -> Result<Pcrs, EventLogError> {
    replay_parsed(&parse(log)?)
}

/// Replays every bank the log declares: each register starts at zero (PCR 0 at the startup
/// locality if one is logged), and each event other than `EV_NO_ACTION` extends its register with
/// `H(register || digest)`. Only registers with at least one event appear in the result.
pub fn replay_parsed(log: &EventLog<'_>) -> Result<Pcrs, EventLogError> {
    let locality = log_startup_locality(log);
    let mut out = Pcrs::new();
    for bank in log.banks() {
        let mut registers: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
        for event in log.events.iter().filter(|e| e.event_type != EV_NO_ACTION) {
            let digest = event.digest(bank).ok_or(EventLogError::MissingDigest {
                index: event.index,
                bank: bank.name(),
            })?;
            let register = registers
                .entry(event.pcr)
                .or_insert_with(|| initial_value(bank, event.pcr, locality));
            *register = bank.digest_parts([register.as_slice(), digest]);
        }
        out.insert(bank, registers);
    }
    Ok(out)
}

/// The value a register holds before any event: zero, except PCR 0 after a locality 3/4 start.
fn initial_value(bank: HashAlg, pcr: u32, locality: Option<u8>) -> Vec<u8> {
    let mut value = vec![0u8; bank.size()];
    if let (0, Some(loc), Some(last)) = (pcr, locality, value.last_mut()) {
        *last = loc;
    }
    value
}

/// The locality of the first `StartupLocality` event logged before anything extends PCR 0.
fn log_startup_locality(log: &EventLog<'_>) -> Option<u8> {
    log.events
        .iter()
        .take_while(|e| !(e.pcr == 0 && e.event_type != EV_NO_ACTION))
        .filter(|e| e.pcr == 0 && e.event_type == EV_NO_ACTION)
        .find_map(|e| startup_locality(e.data))
}

/// Parses, replays and checks a raw log; compares the replay with `expected` (a quote's PCR values
/// per bank) when given. Never panics: a parse failure is a failed `eventlog.parse` check.
#[must_use]
pub fn verify(log: &[u8], expected: Option<&ExpectedPcrs>) -> Verdict {
    let mut verdict = Verdict::new();
    let parsed = match parse(log) {
        Ok(parsed) => parsed,
        Err(e) => {
            verdict.fail("eventlog.parse", e.to_string());
            return verdict;
        }
    };
    let banks: Vec<&str> = parsed.banks().iter().map(|b| b.name()).collect();
    verdict.pass(
        "eventlog.parse",
        format!(
            "{} log, {} events, banks {}",
            parsed.format.name(),
            parsed.events.len(),
            banks.join(",")
        ),
    );
    verdict.claim("format", parsed.format.name());
    let data_checks: Vec<DataCheck> = parsed.events.iter().map(check_event_data).collect();
    check_data(&mut verdict, &parsed, &data_checks);
    let replayed = match replay_parsed(&parsed) {
        Ok(pcrs) => pcrs,
        Err(e) => {
            verdict.fail("eventlog.replay", e.to_string());
            return verdict;
        }
    };
    verdict.pass(
        "eventlog.replay",
        format!("replayed {} bank(s)", replayed.len()),
    );
    verdict.claim("pcrs", pcrs_json(&replayed));
    verdict.claim("events", summary_json(&parsed, &data_checks));
    if let Some(expected) = expected {
        compare_with_quote(&mut verdict, &parsed, &replayed, expected);
    }
    verdict
}

fn check_data(verdict: &mut Verdict, log: &EventLog<'_>, data_checks: &[DataCheck]) {
    let results: Vec<(&Event<'_>, DataCheck)> =
        log.events.iter().zip(data_checks.iter().copied()).collect();
    let failures: Vec<String> = results
        .iter()
        .filter(|(_, r)| r.is_failure())
        .map(|(e, _)| format!("event {} ({}, PCR {})", e.index, e.type_name(), e.pcr))
        .collect();
    if failures.is_empty() {
        let count = |want: DataCheck| results.iter().filter(|(_, r)| *r == want).count();
        let checked = results
            .iter()
            .filter(|(_, r)| *r != DataCheck::NotApplicable)
            .count();
        verdict.pass(
            "eventlog.event_data",
            format!(
                "{checked} events with measured data hashed: {} exact, {} variable contents only, {} grub strings, \
                 {} advisory mismatches",
                count(DataCheck::Match),
                count(DataCheck::MatchVariableContents),
                count(DataCheck::MatchGrubString),
                count(DataCheck::AdvisoryMismatch),
            ),
        );
    } else {
        let shown: Vec<&str> = failures.iter().take(5).map(String::as_str).collect();
        verdict.fail(
            "eventlog.event_data",
            format!(
                "{} event(s) whose data does not hash to its digest: {}",
                failures.len(),
                shown.join("; ")
            ),
        );
    }
}

fn compare_with_quote(
    verdict: &mut Verdict,
    log: &EventLog<'_>,
    replayed: &Pcrs,
    expected: &ExpectedPcrs,
) {
    let locality = log_startup_locality(log);
    for (bank, quoted) in expected {
        let name = format!("eventlog.pcrs.{}", bank.name());
        let Some(ours) = replayed.get(bank) else {
            verdict.fail(&name, format!("the log has no {} bank", bank.name()));
            continue;
        };
        let differing: Vec<String> = quoted
            .iter()
            .filter(|(pcr, value)| {
                let replay = ours
                    .get(pcr)
                    .cloned()
                    .unwrap_or_else(|| initial_value(*bank, **pcr, locality));
                replay != **value
            })
            .map(|(pcr, _)| pcr.to_string())
            .collect();
        let indices: Vec<String> = quoted.keys().map(u32::to_string).collect();
        if differing.is_empty() {
            verdict.pass(&name, format!("replay matches PCR {}", indices.join(",")));
        } else {
            verdict.fail(
                &name,
                format!(
                    "replay differs from the quote in PCR {}",
                    differing.join(",")
                ),
            );
        }
    }
}

/// `{bank: {index: hex}}`, the claim shape the CLI prints.
#[must_use]
pub fn pcrs_json(pcrs: &Pcrs) -> Value {
    let banks: Map<String, Value> = pcrs
        .iter()
        .map(|(bank, regs)| {
            let regs: Map<String, Value> = regs
                .iter()
                .map(|(i, v)| (i.to_string(), Value::String(crate::to_hex(v))))
                .collect();
            (bank.name().to_owned(), Value::Object(regs))
        })
        .collect();
    Value::Object(banks)
}

fn summary_json(log: &EventLog<'_>, data_checks: &[DataCheck]) -> Value {
    let mut by_type: BTreeMap<&str, usize> = BTreeMap::new();
    let mut check_counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut boot_applications = Vec::new();
    let mut secure_boot = Value::Null;
    let mut separators = 0usize;
    for (event, check) in log.events.iter().zip(data_checks) {
        *by_type.entry(event.type_name()).or_default() += 1;
        *check_counts.entry(check.name()).or_default() += 1;
        match decode_event_data(event) {
            DecodedData::ImageLoad(img)
                if event.event_type == super::types::EV_EFI_BOOT_SERVICES_APPLICATION =>
            {
                boot_applications.push(
                    json!({"pcr": event.pcr, "file_path": img.file_path, "length": img.length}),
                );
            }
            DecodedData::Variable(var)
                if var.name == "SecureBoot" && var.guid == EFI_GLOBAL_VARIABLE =>
            {
                secure_boot = Value::Bool(var.data == [1]);
            }
            DecodedData::Separator(_) => separators += 1,
            _ => {}
        }
    }
    let cmdlines: Vec<String> = log.events.iter().filter_map(kernel_cmdline).collect();
    json!({
        "count": log.events.len(),
        "by_type": by_type,
        "data_checks": check_counts,
        "separators": separators,
        "startup_locality": log_startup_locality(log),
        "secure_boot": secure_boot,
        "boot_applications": boot_applications,
        "kernel_cmdline": cmdlines.last(),
    })
}

const EFI_GLOBAL_VARIABLE: &str = "8be4df61-93ca-11d2-aa0d-00e098032b8c";

/// Every record of a raw log as a JSON array of [`event_json`] objects.
pub fn events_json(log: &[u8]) -> Result<String, EventLogError> {
    let parsed = parse(log)?;
    Ok(Value::Array(parsed.events.iter().map(event_json).collect()).to_string())
}

/// One event as JSON: index, PCR, type, digests (hex by bank name), data (hex), data check and
/// the decoded data when the type has a layout.
#[must_use]
pub fn event_json(event: &Event<'_>) -> Value {
    let digests: Map<String, Value> = event
        .digests
        .iter()
        .map(|(alg, d)| {
            let name = HashAlg::from_id(*alg)
                .map_or_else(|| format!("{alg:#06x}"), |a| a.name().to_owned());
            (name, Value::String(crate::to_hex(d)))
        })
        .collect();
    json!({
        "index": event.index,
        "offset": event.offset,
        "pcr": event.pcr,
        "type": event.event_type,
        "type_name": event.type_name(),
        "digests": digests,
        "data": crate::to_hex(event.data),
        "data_check": check_event_data(event).name(),
        "decoded": decoded_json(&decode_event_data(event)),
    })
}

fn decoded_json(decoded: &DecodedData<'_>) -> Value {
    match decoded {
        DecodedData::Variable(v) => {
            json!({"kind": "efi_variable", "guid": v.guid, "name": v.name, "data": crate::to_hex(v.data)})
        }
        DecodedData::ImageLoad(i) => json!({
            "kind": "image_load",
            "location": i.location,
            "length": i.length,
            "link_time_address": i.link_time_address,
            "device_path": crate::to_hex(i.device_path),
            "file_path": i.file_path,
        }),
        DecodedData::Separator(value) => {
            json!({"kind": "separator", "value": value, "error": *value == 1})
        }
        DecodedData::StartupLocality(loc) => json!({"kind": "startup_locality", "locality": loc}),
        DecodedData::Text(text) => json!({"kind": "text", "text": text}),
        DecodedData::Opaque => Value::Null,
    }
}
