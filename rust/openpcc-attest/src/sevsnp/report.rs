//! The SEV-SNP `ATTESTATION_REPORT` structure (AMD SEV-SNP firmware ABI, table "`ATTESTATION_REPORT`"),
//! versions 2 to 5, all 1184 bytes.

use serde_json::{json, Map, Value};

use super::SevSnpError;

/// Size of every report version handled here.
pub const REPORT_LEN: usize = 0x4A0;
/// The signature covers bytes `[0, SIGNED_LEN)`.
pub const SIGNED_LEN: usize = 0x2A0;
const SIG_R: usize = 0x2A0;
const SIG_S: usize = 0x2E8;
/// r and s are 72-byte little-endian fields holding 48-byte P-384 scalars.
const SIG_COMPONENT_LEN: usize = 72;

/// AMD processor generation: decides the `TCB_VERSION` layout and the root of trust.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generation {
    /// Zen 3 (family 19h, models 00h-0Fh).
    Milan,
    /// Zen 4 (family 19h, models 10h-1Fh and A0h-AFh).
    Genoa,
    /// Zen 5 (family 1Ah, models 00h-11h).
    Turin,
}

impl Generation {
    /// Lower-case name as used in claims.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Milan => "milan",
            Self::Genoa => "genoa",
            Self::Turin => "turin",
        }
    }

    /// From the CPUID family and model the report carries (v3 and later).
    #[must_use]
    pub fn from_cpuid(family: u8, model: u8) -> Option<Self> {
        match (family, model) {
            (0x19, 0x00..=0x0F) => Some(Self::Milan),
            (0x19, 0x10..=0x1F | 0xA0..=0xAF) => Some(Self::Genoa),
            (0x1A, 0x00..=0x11) => Some(Self::Turin),
            _ => None,
        }
    }

    /// From a VCEK `productName` such as `Milan-B0` or `Genoa`.
    #[must_use]
    pub fn from_product_name(name: &str) -> Option<Self> {
        let base = name.split('-').next().unwrap_or(name);
        match base {
            "Milan" => Some(Self::Milan),
            "Genoa" => Some(Self::Genoa),
            "Turin" => Some(Self::Turin),
            _ => None,
        }
    }
}

/// A `TCB_VERSION` decoded with its generation's layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tcb {
    /// FMC SPL (Turin only).
    pub fmc: Option<u8>,
    /// Boot loader SPL.
    pub bootloader: u8,
    /// TEE (PSP OS) SPL.
    pub tee: u8,
    /// SNP firmware SPL.
    pub snp: u8,
    /// Microcode SPL.
    pub microcode: u8,
}

impl Tcb {
    /// Decodes the 8 TCB bytes: Milan/Genoa `[BL, TEE, 0, 0, 0, 0, SNP, UCODE]`,
    /// Turin `[FMC, BL, TEE, SNP, 0, 0, 0, UCODE]`.
    #[must_use]
    pub fn decode(raw: [u8; 8], generation: Generation) -> Self {
        match generation {
            Generation::Milan | Generation::Genoa => Self {
                fmc: None,
                bootloader: raw[0],
                tee: raw[1],
                snp: raw[6],
                microcode: raw[7],
            },
            Generation::Turin => Self {
                fmc: Some(raw[0]),
                bootloader: raw[1],
                tee: raw[2],
                snp: raw[3],
                microcode: raw[7],
            },
        }
    }

    /// As a JSON object.
    #[must_use]
    pub fn to_json(self) -> Value {
        let mut m = Map::new();
        if let Some(fmc) = self.fmc {
            m.insert("fmc".into(), fmc.into());
        }
        m.insert("bootloader".into(), self.bootloader.into());
        m.insert("tee".into(), self.tee.into());
        m.insert("snp".into(), self.snp.into());
        m.insert("microcode".into(), self.microcode.into());
        Value::Object(m)
    }
}

/// Which key signed the report (flags bits 4:2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigningKey {
    /// Versioned Chip Endorsement Key.
    Vcek,
    /// Versioned Loaded Endorsement Key.
    Vlek,
    /// Unsigned report.
    None,
    /// A reserved value.
    Reserved(u8),
}

/// A parsed report. Byte fields are views into the caller's buffer.
#[derive(Clone, Debug)]
pub struct Report<'a> {
    raw: &'a [u8; REPORT_LEN],
}

fn le_u32(b: &[u8; REPORT_LEN], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(x)
}

fn le_u64(b: &[u8; REPORT_LEN], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

// All offsets below are compile-time constants inside the fixed 1184-byte array, so the
// indexing cannot fail on any input.
impl<'a> Report<'a> {
    /// Parses a bare report: exactly 1184 bytes, version 2 to 5.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, SevSnpError> {
        let raw: &[u8; REPORT_LEN] = bytes
            .try_into()
            .map_err(|_| SevSnpError::ReportSize(bytes.len()))?;
        let report = Self { raw };
        match report.version() {
            2..=5 => Ok(report),
            v => Err(SevSnpError::UnsupportedVersion(v)),
        }
    }

    /// The report bytes.
    #[must_use]
    pub fn bytes(&self) -> &'a [u8; REPORT_LEN] {
        self.raw
    }

    /// VERSION.
    #[must_use]
    pub fn version(&self) -> u32 {
        le_u32(self.raw, 0x00)
    }

    /// `GUEST_POLICY`.
    #[must_use]
    pub fn policy(&self) -> u64 {
        le_u64(self.raw, 0x08)
    }

    /// `SIGNATURE_ALGO` (1 = ECDSA P-384 with SHA-384).
    #[must_use]
    pub fn signature_algo(&self) -> u32 {
        le_u32(self.raw, 0x34)
    }

    /// Flags word at 0x48.
    #[must_use]
    pub fn flags(&self) -> u32 {
        le_u32(self.raw, 0x48)
    }

    /// Whether `MASK_CHIP_ID` is set (`CHIP_ID` then reads as zeros).
    #[must_use]
    pub fn chip_id_masked(&self) -> bool {
        self.flags() & 0b10 != 0
    }

    /// `SIGNING_KEY`.
    #[must_use]
    pub fn signing_key(&self) -> SigningKey {
        match (self.flags() >> 2) & 0b111 {
            0 => SigningKey::Vcek,
            1 => SigningKey::Vlek,
            7 => SigningKey::None,
            // The mask keeps the value below 8.
            other => SigningKey::Reserved(u8::try_from(other).unwrap_or(u8::MAX)),
        }
    }

    /// The bytes of a field.
    #[must_use]
    pub fn field(&self, at: usize, len: usize) -> &'a [u8] {
        &self.raw[at..at + len]
    }

    fn tcb_raw(&self, at: usize) -> [u8; 8] {
        let mut x = [0u8; 8];
        x.copy_from_slice(self.field(at, 8));
        x
    }

    /// `REPORTED_TCB` bytes.
    #[must_use]
    pub fn reported_tcb(&self) -> [u8; 8] {
        self.tcb_raw(0x180)
    }

    /// `REPORT_DATA`.
    #[must_use]
    pub fn report_data(&self) -> &'a [u8] {
        self.field(0x50, 64)
    }

    /// `CHIP_ID`.
    #[must_use]
    pub fn chip_id(&self) -> &'a [u8] {
        self.field(0x1A0, 64)
    }

    /// CPUID family/model/stepping (v3 and later; zeros in v2).
    #[must_use]
    pub fn cpuid(&self) -> Option<(u8, u8, u8)> {
        (self.version() >= 3).then(|| (self.raw[0x188], self.raw[0x189], self.raw[0x18A]))
    }

    /// The generation the CPUID fields name (v3 and later).
    #[must_use]
    pub fn cpuid_generation(&self) -> Option<Generation> {
        let (family, model, _) = self.cpuid()?;
        Generation::from_cpuid(family, model)
    }

    /// The signed bytes.
    #[must_use]
    pub fn signed_bytes(&self) -> &'a [u8] {
        self.field(0, SIGNED_LEN)
    }

    /// r and s as big-endian 48-byte scalars; `None` when the upper 24 bytes are not zero.
    #[must_use]
    pub fn signature_scalars(&self) -> Option<([u8; 48], [u8; 48])> {
        let to_be = |at: usize| -> Option<[u8; 48]> {
            let field = self.field(at, SIG_COMPONENT_LEN);
            if field[48..].iter().any(|b| *b != 0) {
                return None;
            }
            let mut be = [0u8; 48];
            for (dst, src) in be.iter_mut().zip(field[..48].iter().rev()) {
                *dst = *src;
            }
            Some(be)
        };
        Some((to_be(SIG_R)?, to_be(SIG_S)?))
    }

    /// Whether the signature field past r and s (`0x330..0x4A0`, reserved, not signed) is zero.
    #[must_use]
    pub fn signature_reserved_is_zero(&self) -> bool {
        let start = SIG_S + SIG_COMPONENT_LEN;
        self.field(start, REPORT_LEN - start)
            .iter()
            .all(|b| *b == 0)
    }

    fn version_string(&self, at: usize) -> String {
        // [build, minor, major]
        format!("{}.{}.{}", self.raw[at + 2], self.raw[at + 1], self.raw[at])
    }

    /// Every field as claims. The TCB is decoded with `generation` when known.
    #[must_use]
    pub fn claims(&self, generation: Option<Generation>) -> Map<String, Value> {
        let h = |at: usize, len: usize| Value::String(crate::to_hex(self.field(at, len)));
        let policy = self.policy();
        let bit = |n: u32| policy >> n & 1 == 1;
        let mut c = Map::new();
        c.insert("version".into(), self.version().into());
        c.insert("guest_svn".into(), le_u32(self.raw, 0x04).into());
        c.insert("policy".into(), format!("{policy:#x}").into());
        c.insert(
            "policy_decoded".into(),
            json!({
                "abi_minor": policy & 0xff,
                "abi_major": policy >> 8 & 0xff,
                "smt_allowed": bit(16),
                "migrate_ma_allowed": bit(18),
                "debug_allowed": bit(19),
                "single_socket_required": bit(20),
                "cxl_allowed": bit(21),
                "mem_aes_256_xts_required": bit(22),
                "rapl_disabled": bit(23),
                "ciphertext_hiding_required": bit(24),
                "page_swap_disabled": bit(25),
            }),
        );
        c.insert("debug_allowed".into(), bit(19).into());
        c.insert("family_id".into(), h(0x10, 16));
        c.insert("image_id".into(), h(0x20, 16));
        c.insert("vmpl".into(), le_u32(self.raw, 0x30).into());
        c.insert("sig_algo".into(), self.signature_algo().into());
        c.insert("current_tcb".into(), h(0x38, 8));
        c.insert(
            "platform_info".into(),
            format!("{:#x}", le_u64(self.raw, 0x40)).into(),
        );
        c.insert("flags".into(), format!("{:#x}", self.flags()).into());
        let signing_key = match self.signing_key() {
            SigningKey::Vcek => "vcek".to_owned(),
            SigningKey::Vlek => "vlek".to_owned(),
            SigningKey::None => "none".to_owned(),
            SigningKey::Reserved(v) => format!("reserved({v})"),
        };
        c.insert("signing_key".into(), ((self.flags() >> 2) & 0b111).into());
        c.insert("signing_key_kind".into(), signing_key.into());
        c.insert("report_data".into(), h(0x50, 64));
        c.insert("measurement".into(), h(0x90, 48));
        c.insert("host_data".into(), h(0xC0, 32));
        c.insert("id_key_digest".into(), h(0xE0, 48));
        c.insert("author_key_digest".into(), h(0x110, 48));
        c.insert("report_id".into(), h(0x140, 32));
        c.insert("report_id_ma".into(), h(0x160, 32));
        c.insert("reported_tcb".into(), h(0x180, 8));
        c.insert("cpuid_fam_mod_step".into(), h(0x188, 3));
        c.insert("chip_id".into(), h(0x1A0, 64));
        c.insert("committed_tcb".into(), h(0x1E0, 8));
        c.insert("current_version".into(), self.version_string(0x1E8).into());
        c.insert(
            "committed_version".into(),
            self.version_string(0x1EC).into(),
        );
        c.insert("launch_tcb".into(), h(0x1F0, 8));
        if self.version() >= 5 {
            c.insert(
                "launch_mit_vector".into(),
                format!("{:#x}", le_u64(self.raw, 0x1F8)).into(),
            );
            c.insert(
                "current_mit_vector".into(),
                format!("{:#x}", le_u64(self.raw, 0x200)).into(),
            );
        }
        if let Some(g) = generation {
            c.insert("product".into(), g.name().into());
            c.insert(
                "reported_tcb_decoded".into(),
                Tcb::decode(self.reported_tcb(), g).to_json(),
            );
        }
        c
    }
}
