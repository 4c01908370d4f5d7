//! The Intel SGX extension of a PCK certificate (OID 1.2.840.113741.1.13.1): the platform's TCB
//! (16 CPU SVN components, PCE SVN), PCE-ID and FMSPC, as Intel's PCK certificate profile defines.

use der::asn1::ObjectIdentifier;

use crate::x509::{der_items, Cert};

const SGX_EXTENSION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1");
const TAG_SEQUENCE: u8 = 0x30;
const TAG_OID: u8 = 0x06;
const TAG_INTEGER: u8 = 0x02;

/// What the PCK certificate states about the platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PckInfo {
    /// SGX TCB component SVNs 1 to 16.
    pub sgx_comps: [u8; 16],
    /// PCE SVN.
    pub pce_svn: u16,
    /// PCE-ID (2 bytes).
    pub pce_id: Vec<u8>,
    /// FMSPC (6 bytes).
    pub fmspc: Vec<u8>,
}

/// (last OID arc, tag, content) of every `SEQUENCE { OID, value }` in a sequence.
fn entries(seq: &[u8]) -> Option<Vec<(u32, u8, &[u8])>> {
    der_items(seq)?
        .into_iter()
        .map(|(tag, content)| {
            if tag != TAG_SEQUENCE {
                return None;
            }
            let pair = der_items(content)?;
            let [(TAG_OID, oid), (value_tag, value)] = pair.as_slice() else {
                return None;
            };
            let oid = ObjectIdentifier::from_bytes(oid).ok()?;
            let last = oid.arcs().last()?;
            Some((last, *value_tag, *value))
        })
        .collect()
}

fn small_uint(tag: u8, content: &[u8]) -> Option<u16> {
    if tag != TAG_INTEGER || content.is_empty() || content.len() > 3 || content[0] & 0x80 != 0 {
        return None;
    }
    content.iter().try_fold(0u16, |acc, b| {
        acc.checked_mul(256)?.checked_add(u16::from(*b))
    })
}

impl PckInfo {
    /// Reads the SGX extension; `None` when absent or malformed.
    #[must_use]
    pub fn from_cert(cert: &Cert) -> Option<Self> {
        let ext = cert.extension(&SGX_EXTENSION)?;
        let items = der_items(ext)?;
        let [(TAG_SEQUENCE, top)] = items.as_slice() else {
            return None;
        };
        let (mut tcb, mut pce_id, mut fmspc) = (None, None, None);
        for (arc, tag, value) in entries(top)? {
            match (arc, tag) {
                (2, TAG_SEQUENCE) => tcb = Some(Self::tcb(value)?),
                (3, _) => pce_id = Some(value.to_vec()),
                (4, _) => fmspc = Some(value.to_vec()),
                _ => {}
            }
        }
        let (sgx_comps, pce_svn) = tcb?;
        Some(Self {
            sgx_comps,
            pce_svn,
            pce_id: pce_id?,
            fmspc: fmspc?,
        })
    }

    /// The TCB entry: components 1..=16 (INTEGER), 17 = PCE SVN; 18 (CPUSVN bytes) is redundant.
    fn tcb(value: &[u8]) -> Option<([u8; 16], u16)> {
        let mut comps = [0u8; 16];
        let mut seen = 0u32;
        let mut pce_svn = None;
        for (arc, tag, content) in entries(value)? {
            match arc {
                1..=16 => {
                    let svn = u8::try_from(small_uint(tag, content)?).ok()?;
                    *comps.get_mut(usize::try_from(arc - 1).ok()?)? = svn;
                    seen |= 1 << (arc - 1);
                }
                17 => pce_svn = Some(small_uint(tag, content)?),
                _ => {}
            }
        }
        (seen == 0xFFFF).then_some(())?;
        Some((comps, pce_svn?))
    }
}
