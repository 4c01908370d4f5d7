//! Decoding of event data whose layout the UEFI / TCG specs define.

use super::reader::Reader;
use super::types::{
    Event, EV_ACTION, EV_EFI_ACTION, EV_EFI_BOOT_SERVICES_APPLICATION, EV_EFI_BOOT_SERVICES_DRIVER,
    EV_EFI_RUNTIME_SERVICES_DRIVER, EV_EFI_VARIABLE_AUTHORITY, EV_EFI_VARIABLE_BOOT,
    EV_EFI_VARIABLE_BOOT2, EV_EFI_VARIABLE_DRIVER_CONFIG, EV_IPL, EV_NO_ACTION, EV_SEPARATOR,
    EV_S_CRTM_VERSION,
};

/// Prefixes GRUB writes in front of the string it measures into PCR 8 (grub-core/commands/tpm.c).
pub(crate) const GRUB_PREFIXES: [&str; 3] = ["grub_cmd: ", "kernel_cmdline: ", "module_cmdline: "];
const KERNEL_CMDLINE_PREFIX: &str = "kernel_cmdline: ";
const STARTUP_LOCALITY_SIGNATURE: &[u8; 16] = b"StartupLocality\0";

/// `UEFI_VARIABLE_DATA`: a variable's vendor GUID, name and contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VariableData<'a> {
    /// The vendor GUID in canonical text form.
    pub guid: String,
    /// The variable name (UTF-16 decoded; invalid units replaced).
    pub name: String,
    /// The variable's contents.
    pub data: &'a [u8],
}

/// `UEFI_IMAGE_LOAD_EVENT`: where a PE image was loaded and the device path it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageLoad<'a> {
    /// Load address.
    pub location: u64,
    /// Image size in memory.
    pub length: u64,
    /// Link-time base address.
    pub link_time_address: u64,
    /// The raw EFI device path.
    pub device_path: &'a [u8],
    /// The file path nodes of the device path joined, when there are any.
    pub file_path: Option<String>,
}

/// Event data decoded by type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodedData<'a> {
    /// An EFI variable event (driver config, boot, boot2, authority).
    Variable(VariableData<'a>),
    /// A boot application or driver image load.
    ImageLoad(ImageLoad<'a>),
    /// An `EV_SEPARATOR` with its 32-bit value (0 normally, 1 on error).
    Separator(u32),
    /// `EV_NO_ACTION` `StartupLocality`: the locality the CRTM ran at.
    StartupLocality(u8),
    /// A text event (action strings, GRUB commands, firmware version).
    Text(String),
    /// No decoder for this type, or the data did not match its layout.
    Opaque,
}

/// Decodes an event's data according to its type. Undecodable data is `Opaque`, never an error:
/// the data-versus-digest check, not the decoder, decides whether the event is acceptable.
#[must_use]
pub fn decode_event_data<'a>(event: &Event<'a>) -> DecodedData<'a> {
    let data = event.data;
    let decoded = match event.event_type {
        EV_EFI_VARIABLE_DRIVER_CONFIG
        | EV_EFI_VARIABLE_BOOT
        | EV_EFI_VARIABLE_BOOT2
        | EV_EFI_VARIABLE_AUTHORITY => parse_variable(data).map(DecodedData::Variable),
        EV_EFI_BOOT_SERVICES_APPLICATION
        | EV_EFI_BOOT_SERVICES_DRIVER
        | EV_EFI_RUNTIME_SERVICES_DRIVER => parse_image_load(data).map(DecodedData::ImageLoad),
        EV_SEPARATOR => data
            .try_into()
            .ok()
            .map(|b| DecodedData::Separator(u32::from_le_bytes(b))),
        EV_NO_ACTION => startup_locality(data).map(DecodedData::StartupLocality),
        EV_EFI_ACTION | EV_ACTION | EV_IPL => ascii_text(data).map(DecodedData::Text),
        EV_S_CRTM_VERSION => utf16_text(data)
            .or_else(|| ascii_text(data))
            .map(DecodedData::Text),
        _ => None,
    };
    decoded.unwrap_or(DecodedData::Opaque)
}

/// The kernel command line GRUB measured, when the event is GRUB's `kernel_cmdline:` record.
#[must_use]
pub fn kernel_cmdline(event: &Event<'_>) -> Option<String> {
    if event.event_type != EV_IPL {
        return None;
    }
    ascii_text(event.data)?
        .strip_prefix(KERNEL_CMDLINE_PREFIX)
        .map(str::to_owned)
}

/// The locality byte of a "`StartupLocality`" `EV_NO_ACTION` event.
pub(crate) fn startup_locality(data: &[u8]) -> Option<u8> {
    match data.strip_prefix(STARTUP_LOCALITY_SIGNATURE.as_slice())? {
        [locality] => Some(*locality),
        _ => None,
    }
}

/// `UEFI_VARIABLE_DATA`; the declared lengths must fill the data exactly.
pub(crate) fn parse_variable(data: &[u8]) -> Option<VariableData<'_>> {
    let mut r = Reader::new(data);
    let guid = format_guid(&r.array::<16>().ok()?);
    let name_chars = r.u64_le().ok()?;
    let data_len = r.u64_le().ok()?;
    let name = r.take_u64_len(name_chars.checked_mul(2)?).ok()?;
    let value = r.take_u64_len(data_len).ok()?;
    if !r.is_empty() {
        return None;
    }
    Some(VariableData {
        guid,
        name: decode_utf16(name),
        data: value,
    })
}

/// The contents of a `UEFI_VARIABLE_DATA`, for firmware that measures only them.
pub(crate) fn variable_contents(data: &[u8]) -> Option<&[u8]> {
    parse_variable(data).map(|v| v.data)
}

/// `UEFI_IMAGE_LOAD_EVENT`.
fn parse_image_load(data: &[u8]) -> Option<ImageLoad<'_>> {
    let mut r = Reader::new(data);
    let location = r.u64_le().ok()?;
    let length = r.u64_le().ok()?;
    let link_time_address = r.u64_le().ok()?;
    let path_len = r.u64_le().ok()?;
    let device_path = r.take_u64_len(path_len).ok()?;
    if !r.is_empty() {
        return None;
    }
    Some(ImageLoad {
        location,
        length,
        link_time_address,
        device_path,
        file_path: file_path(device_path),
    })
}

/// Joins the media file-path nodes (type 4, subtype 4) of an EFI device path.
fn file_path(device_path: &[u8]) -> Option<String> {
    const END: u8 = 0x7F;
    let mut r = Reader::new(device_path);
    let mut parts: Vec<String> = Vec::new();
    while !r.is_empty() {
        let kind = r.u8().ok()?;
        let subtype = r.u8().ok()?;
        let len = usize::from(r.u16_le().ok()?);
        let body = r.take(len.checked_sub(4)?).ok()?;
        if kind == END {
            break;
        }
        if kind == 4 && subtype == 4 {
            parts.push(decode_utf16(body).trim_end_matches('\0').to_owned());
        }
    }
    (!parts.is_empty()).then(|| parts.join(""))
}

fn format_guid(b: &[u8; 16]) -> String {
    // EFI_GUID: the first three fields are little-endian, the last eight bytes are in order.
    let d1 = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let d2 = u16::from_le_bytes([b[4], b[5]]);
    let d3 = u16::from_le_bytes([b[6], b[7]]);
    format!(
        "{d1:08x}-{d2:04x}-{d3:04x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
    )
}

fn decode_utf16(bytes: &[u8]) -> String {
    let units = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]));
    char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// Printable ASCII (tabs and newlines allowed), with at most a trailing NUL.
fn ascii_text(data: &[u8]) -> Option<String> {
    let body = data.strip_suffix(b"\0").unwrap_or(data);
    let printable = body
        .iter()
        .all(|b| b.is_ascii_graphic() || matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    (printable && !body.is_empty()).then(|| String::from_utf8_lossy(body).into_owned())
}

/// UTF-16LE text with a trailing NUL, as firmware version strings are written.
fn utf16_text(data: &[u8]) -> Option<String> {
    if data.len() < 2 || data.len() % 2 != 0 || !data.ends_with(&[0, 0]) {
        return None;
    }
    let text = decode_utf16(data);
    let text = text.trim_end_matches('\0');
    (!text.is_empty() && !text.contains(char::REPLACEMENT_CHARACTER) && !text.contains('\0'))
        .then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_text_uses_mixed_endianness() {
        let raw = [
            0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11, 0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03,
            0x2b, 0x8c,
        ];
        assert_eq!(format_guid(&raw), "8be4df61-93ca-11d2-aa0d-00e098032b8c");
    }

    #[test]
    fn variable_lengths_must_fill_the_data() {
        let mut v = vec![0u8; 16];
        v.extend_from_slice(&1u64.to_le_bytes());
        v.extend_from_slice(&1u64.to_le_bytes());
        v.extend_from_slice(&[b'A', 0, 7]);
        let parsed = parse_variable(&v).unwrap();
        assert_eq!((parsed.name.as_str(), parsed.data), ("A", &[7u8][..]));
        v.push(0);
        assert!(parse_variable(&v).is_none());
        let mut huge = vec![0u8; 16];
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(parse_variable(&huge).is_none());
    }

    #[test]
    fn startup_locality_needs_exactly_one_byte() {
        assert_eq!(startup_locality(b"StartupLocality\0\x03"), Some(3));
        assert_eq!(startup_locality(b"StartupLocality\0\x03\x00"), None);
    }
}
