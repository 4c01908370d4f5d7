//! The parsed form of an event log.

/// A PCR bank's hash algorithm: the TPM module's (one type for both, so banks compare across them).
pub use crate::tpm::HashAlg;

/// Which record layout the log uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// `TCG_PCR_EVENT2` records after a Spec ID Event03 header.
    CryptoAgile,
    /// `TCG_PCClientPCREvent` records only (SHA-1 bank).
    Sha1Only,
}

impl LogFormat {
    /// `crypto-agile` or `sha1-only`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::CryptoAgile => "crypto-agile",
            LogFormat::Sha1Only => "sha1-only",
        }
    }
}

/// The "Spec ID Event03" header of a crypto-agile log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecId {
    /// 0 client, 1 server.
    pub platform_class: u32,
    /// (major, minor, errata).
    pub spec_version: (u8, u8, u8),
    /// 1 for 32-bit UINTN firmware, 2 for 64-bit.
    pub uintn_size: u8,
    /// Every (`TPM_ALG_ID`, digest size) the records carry, in the table's order.
    pub algorithms: Vec<(u16, u16)>,
    /// Vendor bytes after the table.
    pub vendor_info: Vec<u8>,
}

/// One record of the log. `index` 0 is the first record (the Spec ID header in crypto-agile logs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event<'a> {
    /// Position in the log, counting the header.
    pub index: usize,
    /// Byte offset of the record.
    pub offset: usize,
    /// PCR index the event extends.
    pub pcr: u32,
    /// TCG event type.
    pub event_type: u32,
    /// (`TPM_ALG_ID`, digest) pairs, in record order.
    pub digests: Vec<(u16, &'a [u8])>,
    /// The event data.
    pub data: &'a [u8],
}

impl Event<'_> {
    /// The digest for one bank, if the record carries it.
    #[must_use]
    pub fn digest(&self, alg: HashAlg) -> Option<&[u8]> {
        self.digests
            .iter()
            .find(|(id, _)| *id == alg.id())
            .map(|(_, d)| *d)
    }

    /// The TCG name of the event type.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        event_type_name(self.event_type)
    }
}

/// A parsed log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventLog<'a> {
    /// Record layout.
    pub format: LogFormat,
    /// The Spec ID header (crypto-agile only).
    pub spec_id: Option<SpecId>,
    /// Every record, header included.
    pub events: Vec<Event<'a>>,
}

impl EventLog<'_> {
    /// The banks this log can be replayed in, in `TPM_ALG_ID` order.
    #[must_use]
    pub fn banks(&self) -> Vec<HashAlg> {
        match &self.spec_id {
            None => vec![HashAlg::Sha1],
            Some(spec) => {
                let mut banks: Vec<HashAlg> = spec
                    .algorithms
                    .iter()
                    .filter_map(|(id, _)| HashAlg::from_id(*id))
                    .collect();
                banks.sort();
                banks.dedup();
                banks
            }
        }
    }
}

pub(crate) const EV_NO_ACTION: u32 = 0x3;
pub(crate) const EV_SEPARATOR: u32 = 0x4;
pub(crate) const EV_ACTION: u32 = 0x5;
pub(crate) const EV_S_CRTM_VERSION: u32 = 0x8;
pub(crate) const EV_IPL: u32 = 0xD;
pub(crate) const EV_EFI_VARIABLE_DRIVER_CONFIG: u32 = 0x8000_0001;
pub(crate) const EV_EFI_VARIABLE_BOOT: u32 = 0x8000_0002;
pub(crate) const EV_EFI_BOOT_SERVICES_APPLICATION: u32 = 0x8000_0003;
pub(crate) const EV_EFI_BOOT_SERVICES_DRIVER: u32 = 0x8000_0004;
pub(crate) const EV_EFI_RUNTIME_SERVICES_DRIVER: u32 = 0x8000_0005;
pub(crate) const EV_EFI_GPT_EVENT: u32 = 0x8000_0006;
pub(crate) const EV_EFI_ACTION: u32 = 0x8000_0007;
pub(crate) const EV_EFI_VARIABLE_BOOT2: u32 = 0x8000_000C;
pub(crate) const EV_EFI_VARIABLE_AUTHORITY: u32 = 0x8000_00E0;

/// The TCG name of an event type (PC Client Platform Firmware Profile, §10.4.1).
#[must_use]
pub fn event_type_name(event_type: u32) -> &'static str {
    match event_type {
        0x0 => "EV_PREBOOT_CERT",
        0x1 => "EV_POST_CODE",
        0x2 => "EV_UNUSED",
        0x3 => "EV_NO_ACTION",
        0x4 => "EV_SEPARATOR",
        0x5 => "EV_ACTION",
        0x6 => "EV_EVENT_TAG",
        0x7 => "EV_S_CRTM_CONTENTS",
        0x8 => "EV_S_CRTM_VERSION",
        0x9 => "EV_CPU_MICROCODE",
        0xA => "EV_PLATFORM_CONFIG_FLAGS",
        0xB => "EV_TABLE_OF_DEVICES",
        0xC => "EV_COMPACT_HASH",
        0xD => "EV_IPL",
        0xE => "EV_IPL_PARTITION_DATA",
        0xF => "EV_NONHOST_CODE",
        0x10 => "EV_NONHOST_CONFIG",
        0x11 => "EV_NONHOST_INFO",
        0x12 => "EV_OMIT_BOOT_DEVICE_EVENTS",
        0x13 => "EV_POST_CODE2",
        0x8000_0000 => "EV_EFI_EVENT_BASE",
        0x8000_0001 => "EV_EFI_VARIABLE_DRIVER_CONFIG",
        0x8000_0002 => "EV_EFI_VARIABLE_BOOT",
        0x8000_0003 => "EV_EFI_BOOT_SERVICES_APPLICATION",
        0x8000_0004 => "EV_EFI_BOOT_SERVICES_DRIVER",
        0x8000_0005 => "EV_EFI_RUNTIME_SERVICES_DRIVER",
        0x8000_0006 => "EV_EFI_GPT_EVENT",
        0x8000_0007 => "EV_EFI_ACTION",
        0x8000_0008 => "EV_EFI_PLATFORM_FIRMWARE_BLOB",
        0x8000_0009 => "EV_EFI_HANDOFF_TABLES",
        0x8000_000A => "EV_EFI_PLATFORM_FIRMWARE_BLOB2",
        0x8000_000B => "EV_EFI_HANDOFF_TABLES2",
        0x8000_000C => "EV_EFI_VARIABLE_BOOT2",
        0x8000_000D => "EV_EFI_GPT_EVENT2",
        0x8000_0010 => "EV_EFI_HCRTM_EVENT",
        0x8000_00E0 => "EV_EFI_VARIABLE_AUTHORITY",
        0x8000_00E1 => "EV_EFI_SPDM_FIRMWARE_BLOB",
        0x8000_00E2 => "EV_EFI_SPDM_FIRMWARE_CONFIG",
        0x8000_00E3 => "EV_EFI_SPDM_DEVICE_POLICY",
        0x8000_00E4 => "EV_EFI_SPDM_DEVICE_AUTHORITY",
        _ => "EV_UNKNOWN",
    }
}
