//! The AMD-specific X.509 extensions of a VCEK or VLEK (AMD KDS specification): product name,
//! the TCB security patch levels it was issued for, and (VCEK only) the chip's hardware id.

use der::asn1::{Ia5String, ObjectIdentifier};
use der::Decode;

use super::report::{Generation, Tcb};
use crate::x509::{Cert, KeyKind};

const PRODUCT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.2");
const BL_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.1");
const TEE_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.2");
const SNP_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.3");
const UCODE_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.8");
const FMC_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.9");
const HW_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.4");

/// What a verified VCEK/VLEK says about the platform, plus its key.
#[derive(Clone)]
pub(super) struct VcekInfo {
    /// Parsed once for raw r‖s signatures: a cached VCEK costs only the verification.
    pub(super) key: aws_lc_rs::signature::ParsedPublicKey,
    pub(super) product: Option<String>,
    pub(super) generation: Option<Generation>,
    pub(super) is_vlek: bool,
    /// hwID: 64 bytes (Milan, Genoa) or 8 bytes (Turin); absent in a VLEK.
    pub(super) hwid: Option<Vec<u8>>,
    bl: Option<u8>,
    tee: Option<u8>,
    snp: Option<u8>,
    ucode: Option<u8>,
    fmc: Option<u8>,
}

impl std::fmt::Debug for VcekInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VcekInfo")
            .field("product", &self.product)
            .field("is_vlek", &self.is_vlek)
            .finish_non_exhaustive()
    }
}

impl VcekInfo {
    pub(super) fn from_cert(cert: &Cert) -> Result<Self, String> {
        let public = cert.public_key().map_err(|e| e.to_string())?;
        if public.kind() != KeyKind::P384 {
            return Err("public key is not P-384".into());
        }
        let key = public.parsed(true).map_err(|e| e.to_string())?;
        let product = cert
            .extension(&PRODUCT_NAME)
            .and_then(|v| Ia5String::from_der(v).ok())
            .map(|s| s.to_string());
        let generation = product.as_deref().and_then(Generation::from_product_name);
        let spl = |oid: &ObjectIdentifier| -> Result<Option<u8>, String> {
            cert.extension(oid)
                .map(|v| {
                    u8::from_der(v).map_err(|_| format!("extension {oid} is not a small integer"))
                })
                .transpose()
        };
        // Subject CN is "SEV-VLEK" for a VLEK, "SEV-VCEK" for a VCEK.
        let is_vlek = cert.subject().contains("SEV-VLEK");
        Ok(Self {
            key,
            product,
            generation,
            is_vlek,
            hwid: cert.extension(&HW_ID).map(<[u8]>::to_vec),
            bl: spl(&BL_SPL)?,
            tee: spl(&TEE_SPL)?,
            snp: spl(&SNP_SPL)?,
            ucode: spl(&UCODE_SPL)?,
            fmc: spl(&FMC_SPL)?,
        })
    }

    pub(super) fn kind(&self) -> &'static str {
        if self.is_vlek {
            "VLEK"
        } else {
            "VCEK"
        }
    }

    /// `None` when every SPL the certificate states equals the reported TCB; else the reason.
    pub(super) fn tcb_mismatch(&self, reported: Tcb) -> Option<String> {
        let pairs = [
            ("blSPL", self.bl, Some(reported.bootloader)),
            ("teeSPL", self.tee, Some(reported.tee)),
            ("snpSPL", self.snp, Some(reported.snp)),
            ("ucodeSPL", self.ucode, Some(reported.microcode)),
            ("fmcSPL", self.fmc, reported.fmc),
        ];
        for (name, cert, report) in pairs {
            match (cert, report) {
                (Some(c), Some(r)) if c != r => {
                    return Some(format!("{name}: certificate {c}, report {r}"));
                }
                (None, Some(_)) if name != "fmcSPL" => {
                    return Some(format!("certificate lacks {name}"));
                }
                (None, Some(_)) => return Some("Turin certificate lacks fmcSPL".into()),
                _ => {}
            }
        }
        None
    }
}
