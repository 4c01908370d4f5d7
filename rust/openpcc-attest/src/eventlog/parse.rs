//! Binary parsing of both record layouts.

use super::reader::Reader;
use super::types::{Event, EventLog, HashAlg, LogFormat, SpecId, EV_NO_ACTION};
use super::EventLogError;

const SPEC_ID_SIGNATURE: &[u8; 16] = b"Spec ID Event03\0";
/// No firmware log comes near this; the cap keeps a hostile log's cost linear and small.
const MAX_EVENTS: usize = 1 << 20;
/// The Spec ID table is tiny in practice (at most a handful of banks).
const MAX_ALGORITHMS: u32 = 32;

/// Parses a whole log. Every byte must belong to a record: trailing bytes that do not form one are
/// an error (a log copied out of a firmware buffer must be cut at its last record first).
pub fn parse(log: &[u8]) -> Result<EventLog<'_>, EventLogError> {
    let mut r = Reader::new(log);
    if r.is_empty() {
        return Err(EventLogError::Empty);
    }
    let header = read_sha1_record(&mut r, 0)?;
    let spec_id = if is_spec_id_header(&header) {
        Some(parse_spec_id(header.data)?)
    } else {
        None
    };
    let format = if spec_id.is_some() {
        LogFormat::CryptoAgile
    } else {
        LogFormat::Sha1Only
    };
    let mut events = vec![header];
    while !r.is_empty() {
        if events.len() >= MAX_EVENTS {
            return Err(EventLogError::TooManyEvents(MAX_EVENTS));
        }
        let index = events.len();
        let event = match &spec_id {
            Some(spec) => read_agile_record(&mut r, index, spec)?,
            None => read_sha1_record(&mut r, index)?,
        };
        events.push(event);
    }
    Ok(EventLog {
        format,
        spec_id,
        events,
    })
}

fn is_spec_id_header(e: &Event<'_>) -> bool {
    e.pcr == 0 && e.event_type == EV_NO_ACTION && e.data.starts_with(SPEC_ID_SIGNATURE)
}

fn truncated(
    what: &'static str,
    offset: usize,
) -> impl Fn(super::reader::ShortRead) -> EventLogError {
    move |_| EventLogError::Truncated { what, offset }
}

/// `TCG_PCClientPCREvent`: pcrIndex, eventType, SHA-1 digest, eventDataSize, event.
fn read_sha1_record<'a>(r: &mut Reader<'a>, index: usize) -> Result<Event<'a>, EventLogError> {
    let offset = r.offset();
    let pcr = r.u32_le().map_err(truncated("pcr index", offset))?;
    let event_type = r.u32_le().map_err(truncated("event type", offset))?;
    let digest = r.take(20).map_err(truncated("sha1 digest", offset))?;
    let size = r.u32_le().map_err(truncated("event size", offset))?;
    let data = r
        .take_u64_len(u64::from(size))
        .map_err(truncated("event data", offset))?;
    Ok(Event {
        index,
        offset,
        pcr,
        event_type,
        digests: vec![(HashAlg::Sha1.id(), digest)],
        data,
    })
}

/// `TCG_PCR_EVENT2`: pcrIndex, eventType, `TPML_DIGEST_VALUES`, eventSize, event.
fn read_agile_record<'a>(
    r: &mut Reader<'a>,
    index: usize,
    spec: &SpecId,
) -> Result<Event<'a>, EventLogError> {
    let offset = r.offset();
    let pcr = r.u32_le().map_err(truncated("pcr index", offset))?;
    let event_type = r.u32_le().map_err(truncated("event type", offset))?;
    let count = r.u32_le().map_err(truncated("digest count", offset))?;
    if usize::try_from(count).map_or(true, |c| c > spec.algorithms.len()) {
        return Err(EventLogError::BadDigestList {
            index,
            reason: "more digests than declared banks",
        });
    }
    let mut digests: Vec<(u16, &[u8])> = Vec::with_capacity(spec.algorithms.len());
    for _ in 0..count {
        let alg = r.u16_le().map_err(truncated("digest algorithm", offset))?;
        let size = spec
            .algorithms
            .iter()
            .find(|(id, _)| *id == alg)
            .map(|(_, size)| *size)
            .ok_or(EventLogError::UndeclaredAlgorithm { index, alg })?;
        if digests.iter().any(|(id, _)| *id == alg) {
            return Err(EventLogError::BadDigestList {
                index,
                reason: "repeated algorithm",
            });
        }
        let digest = r
            .take(usize::from(size))
            .map_err(truncated("digest", offset))?;
        digests.push((alg, digest));
    }
    let size = r.u32_le().map_err(truncated("event size", offset))?;
    let data = r
        .take_u64_len(u64::from(size))
        .map_err(truncated("event data", offset))?;
    Ok(Event {
        index,
        offset,
        pcr,
        event_type,
        digests,
        data,
    })
}

/// `TCG_EfiSpecIDEventStruct`; must fill the header's data exactly.
fn parse_spec_id(data: &[u8]) -> Result<SpecId, EventLogError> {
    let bad = |what| move |_| EventLogError::BadSpecId(what);
    let mut r = Reader::new(data);
    r.take(SPEC_ID_SIGNATURE.len()).map_err(bad("signature"))?;
    let platform_class = r.u32_le().map_err(bad("truncated platform class"))?;
    let minor = r.u8().map_err(bad("truncated version"))?;
    let major = r.u8().map_err(bad("truncated version"))?;
    let errata = r.u8().map_err(bad("truncated version"))?;
    let uintn_size = r.u8().map_err(bad("truncated uintn size"))?;
    let count = r.u32_le().map_err(bad("truncated algorithm count"))?;
    if count == 0 || count > MAX_ALGORITHMS {
        return Err(EventLogError::BadSpecId("algorithm count out of range"));
    }
    let mut algorithms: Vec<(u16, u16)> = Vec::new();
    for _ in 0..count {
        let alg = r.u16_le().map_err(bad("truncated algorithm table"))?;
        let size = r.u16_le().map_err(bad("truncated algorithm table"))?;
        validate_table_entry(&algorithms, alg, size)?;
        algorithms.push((alg, size));
    }
    let vendor_len = r.u8().map_err(bad("truncated vendor info size"))?;
    let vendor_info = r
        .take(usize::from(vendor_len))
        .map_err(bad("truncated vendor info"))?
        .to_vec();
    if !r.is_empty() {
        return Err(EventLogError::BadSpecId("trailing bytes"));
    }
    Ok(SpecId {
        platform_class,
        spec_version: (major, minor, errata),
        uintn_size,
        algorithms,
        vendor_info,
    })
}

fn validate_table_entry(table: &[(u16, u16)], alg: u16, size: u16) -> Result<(), EventLogError> {
    if size == 0 {
        return Err(EventLogError::BadSpecId("zero digest size"));
    }
    if table.iter().any(|(id, _)| *id == alg) {
        return Err(EventLogError::BadSpecId("repeated algorithm"));
    }
    if HashAlg::from_id(alg).is_some_and(|known| known.size() != usize::from(size)) {
        return Err(EventLogError::BadSpecId(
            "digest size does not match its algorithm",
        ));
    }
    Ok(())
}
