//! The X.509 pieces the TEE verifiers share: PEM bundles, certificate and CRL parsing, signature
//! checks for the algorithms AMD and Intel use (ECDSA P-256/P-384, RSASSA-PSS SHA-384), validity
//! windows at an explicit instant, and extension lookup.
//!
//! Certificate parsing is `x509-cert`'s; signatures are checked over the *original* TBS bytes
//! (not a re-encoding), so a certificate whose DER is not canonical still verifies as signed.
//!
//! [`check_path`] is the one path validator every vendor chain goes through once its signatures
//! verify (TDX PCK and collateral signers, SEV-SNP, TPM AK certificates, NVIDIA): each issuer is a
//! CA allowed to sign certificates and its path length constraint holds; the leaf is not a CA.
//! The vendor's own shape (which names sit where) is checked by the vendor module on top.

use aws_lc_rs::signature as sig;
use der::asn1::ObjectIdentifier;
use der::Decode;
use sha2::{Digest as _, Sha256};
use x509_cert::Certificate;

/// Why an X.509 object could not be parsed or did not verify.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum X509Error {
    /// No PEM block of the wanted kind.
    #[error("no {0} pem block")]
    NoPem(&'static str),
    /// A PEM block did not decode.
    #[error("malformed pem")]
    Pem,
    /// DER did not decode as the expected structure.
    #[error("malformed {0} der")]
    Der(&'static str),
    /// A signature or public-key algorithm this module does not verify.
    #[error("unsupported algorithm {0}")]
    UnsupportedAlgorithm(String),
    /// A public key did not decode for its algorithm.
    #[error("malformed public key")]
    PublicKey,
    /// A signature did not decode or did not verify.
    #[error("signature does not verify")]
    Signature,
}

const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
pub(crate) const ECDSA_SHA384: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
pub(crate) const EC_PUBLIC_KEY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
pub(crate) const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// The curve or algorithm family of a public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// ECDSA P-256 (Intel PCK chain, TCB signing, attestation keys).
    P256,
    /// ECDSA P-384 (AMD VCEK/VLEK).
    P384,
    /// RSA (AMD ARK/ASK), used with RSASSA-PSS SHA-384.
    Rsa,
}

/// A validated public key: a SEC1 point (EC) or a PKCS#1 `RSAPublicKey` (RSA).
///
/// Verification is aws-lc's (already in the extension through the HPKE crate): its P-384 and
/// P-256 code is several times faster than the pure-Rust curves, and the P-384 check is the floor
/// of every SEV-SNP verification.
#[derive(Clone)]
pub struct PublicKey {
    kind: KeyKind,
    bytes: Vec<u8>,
    /// Parsed once per signature encoding (DER for certificates, raw r‖s for reports).
    der_sig: std::sync::OnceLock<sig::ParsedPublicKey>,
    fixed_sig: std::sync::OnceLock<sig::ParsedPublicKey>,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({:?})", self.kind)
    }
}

impl PublicKey {
    /// Validates a key of this kind.
    pub fn new(kind: KeyKind, bytes: &[u8]) -> Result<Self, X509Error> {
        let key = Self {
            kind,
            bytes: bytes.to_vec(),
            der_sig: std::sync::OnceLock::new(),
            fixed_sig: std::sync::OnceLock::new(),
        };
        key.with_parsed(false, |_| Ok(()))?;
        Ok(key)
    }

    /// A key validated only when first used for a raw r‖s signature (a quote's attestation key:
    /// one parse instead of two).
    #[must_use]
    pub fn for_fixed_signatures(kind: KeyKind, bytes: &[u8]) -> Self {
        Self {
            kind,
            bytes: bytes.to_vec(),
            der_sig: std::sync::OnceLock::new(),
            fixed_sig: std::sync::OnceLock::new(),
        }
    }

    /// Runs `f` with the key parsed for the encoding, parsing it on first use.
    fn with_parsed<T>(
        &self,
        fixed: bool,
        f: impl FnOnce(&sig::ParsedPublicKey) -> Result<T, X509Error>,
    ) -> Result<T, X509Error> {
        let cell = if fixed {
            &self.fixed_sig
        } else {
            &self.der_sig
        };
        if let Some(parsed) = cell.get() {
            return f(parsed);
        }
        let parsed = self.parsed(fixed)?;
        f(cell.get_or_init(|| parsed))
    }

    /// The kind of key.
    #[must_use]
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// Parses the key for one signature encoding: `fixed` = raw r‖s (quotes, reports), else
    /// X.509's DER `ECDSA-Sig-Value`.
    pub fn parsed(&self, fixed: bool) -> Result<sig::ParsedPublicKey, X509Error> {
        let alg: &'static dyn sig::VerificationAlgorithm = match (self.kind, fixed) {
            (KeyKind::P256, true) => &sig::ECDSA_P256_SHA256_FIXED,
            (KeyKind::P256, false) => &sig::ECDSA_P256_SHA256_ASN1,
            (KeyKind::P384, true) => &sig::ECDSA_P384_SHA384_FIXED,
            (KeyKind::P384, false) => &sig::ECDSA_P384_SHA384_ASN1,
            // AMD: RSASSA-PSS, SHA-384, MGF1-SHA-384, salt 48 (the digest length).
            (KeyKind::Rsa, _) => &sig::RSA_PSS_2048_8192_SHA384,
        };
        sig::ParsedPublicKey::new(alg, &self.bytes).map_err(|_| X509Error::PublicKey)
    }

    /// Verifies a raw r‖s signature (EC) over `msg`.
    pub fn verify_fixed(&self, msg: &[u8], signature: &[u8]) -> Result<(), X509Error> {
        self.with_parsed(true, |k| {
            k.verify_sig(msg, signature)
                .map_err(|_| X509Error::Signature)
        })
    }

    /// Verifies a DER `ECDSA-Sig-Value` (EC) or RSASSA-PSS signature over `msg`.
    pub fn verify_der(&self, msg: &[u8], signature: &[u8]) -> Result<(), X509Error> {
        self.with_parsed(false, |k| {
            k.verify_sig(msg, signature)
                .map_err(|_| X509Error::Signature)
        })
    }
}

/// A parsed certificate with its original DER (for fingerprints and signature checks).
#[derive(Clone, Debug)]
pub struct Cert {
    der: Vec<u8>,
    parsed: Certificate,
    /// RFC 4514 formatting is slow (tens of microseconds): done once, on first use.
    subject: std::sync::OnceLock<String>,
}

/// RFC 5280 §4.1.1.2: the outer `signatureAlgorithm` must equal the signed `tbsCertificate.signature`.
/// The outer one is not signed: were they allowed to differ, its parameters (RSASSA-PSS hash, MGF
/// and salt) could be rewritten without breaking the signature.
#[must_use]
pub fn algorithms_agree(cert: &Certificate) -> bool {
    cert.signature_algorithm() == cert.tbs_certificate().signature()
}

impl Cert {
    /// Parses one DER certificate; trailing bytes are rejected, and so is an outer signature
    /// algorithm that differs from the signed one.
    pub fn from_der(der: &[u8]) -> Result<Self, X509Error> {
        let cert = Certificate::from_der(der).map_err(|_| X509Error::Der("certificate"))?;
        if !algorithms_agree(&cert) {
            return Err(X509Error::Der(
                "certificate whose signature algorithm differs from its signed one",
            ));
        }
        Ok(Self {
            der: der.to_vec(),
            parsed: cert,
            subject: std::sync::OnceLock::new(),
        })
    }

    /// Parses a DER certificate, or the first certificate of a PEM text.
    pub fn from_der_or_pem(bytes: &[u8]) -> Result<Self, X509Error> {
        if looks_like_pem(bytes) {
            let blocks = pem_blocks(bytes, "CERTIFICATE")?;
            let first = blocks.first().ok_or(X509Error::NoPem("certificate"))?;
            Self::from_der(first)
        } else {
            Self::from_der(bytes)
        }
    }

    /// The original DER bytes.
    #[must_use]
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// SHA-256 of the DER: a cache key and a way to compare certificates.
    #[must_use]
    pub fn fingerprint(&self) -> [u8; 32] {
        Sha256::digest(&self.der).into()
    }

    /// The subject as an RFC 4514 string.
    #[must_use]
    pub fn subject(&self) -> String {
        self.subject
            .get_or_init(|| format_name(self.parsed.tbs_certificate().subject()))
            .clone()
    }

    /// The issuer as an RFC 4514 string.
    #[must_use]
    pub fn issuer(&self) -> String {
        self.parsed.tbs_certificate().issuer().to_string()
    }

    /// Whether this certificate's issuer name equals `other`'s subject name.
    #[must_use]
    pub fn issued_by_name(&self, other: &Cert) -> bool {
        self.parsed.tbs_certificate().issuer() == other.parsed.tbs_certificate().subject()
    }

    /// The serial number, big-endian bytes as encoded (leading zero stripped).
    #[must_use]
    pub fn serial(&self) -> Vec<u8> {
        strip_leading_zeros(self.parsed.tbs_certificate().serial_number().as_bytes())
    }

    /// `notBefore` and `notAfter`, seconds since the Unix epoch.
    #[must_use]
    pub fn validity_unix(&self) -> (u64, u64) {
        let v = self.parsed.tbs_certificate().validity();
        (
            v.not_before.to_unix_duration().as_secs(),
            v.not_after.to_unix_duration().as_secs(),
        )
    }

    /// Checks `notBefore <= at <= notAfter`, with a reason when it fails.
    pub fn check_validity(&self, at: u64) -> Result<(), String> {
        let (nb, na) = self.validity_unix();
        if at < nb {
            Err(format!(
                "{} not valid before {}",
                self.subject(),
                fmt_unix(nb)
            ))
        } else if at > na {
            Err(format!("{} expired {}", self.subject(), fmt_unix(na)))
        } else {
            Ok(())
        }
    }

    /// The subject public key.
    pub fn public_key(&self) -> Result<PublicKey, X509Error> {
        public_key_from_spki(self.parsed.tbs_certificate().subject_public_key_info())
    }

    /// The value (inner OCTET STRING content) of the extension with this OID.
    #[must_use]
    pub fn extension(&self, oid: &ObjectIdentifier) -> Option<&[u8]> {
        let exts = self.parsed.tbs_certificate().extensions()?;
        exts.iter()
            .find(|e| e.extn_id == *oid)
            .map(|e| e.extn_value.as_bytes())
    }

    /// The parsed certificate.
    #[must_use]
    pub fn certificate(&self) -> &Certificate {
        &self.parsed
    }

    /// The subject's common name (the first CN attribute), if it is a printable or UTF-8 string.
    #[must_use]
    pub fn common_name(&self) -> Option<String> {
        common_name(&self.parsed)
    }

    /// Verifies this certificate's signature with `issuer`'s public key.
    pub fn verify_signed_by(&self, issuer: &PublicKey) -> Result<(), X509Error> {
        let tbs = first_element(&self.der).ok_or(X509Error::Der("certificate"))?;
        let sig = self
            .parsed
            .signature()
            .as_bytes()
            .ok_or(X509Error::Signature)?;
        verify_signature(issuer, &self.parsed.signature_algorithm().oid, tbs, sig)
    }
}

// --- path validation (RFC 5280 §6.1.4 (k), (l), (m), (n); §4.2.1.3, §4.2.1.9) ---------------

/// The subject common name of a certificate (first CN attribute, printable or UTF-8 string).
#[must_use]
pub fn common_name(cert: &Certificate) -> Option<String> {
    use der::asn1::{PrintableStringRef, Utf8StringRef};
    const CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
    let rdns: &Vec<x509_cert::name::RelativeDistinguishedName> =
        cert.tbs_certificate().subject().as_ref().as_ref();
    rdns.iter()
        .flat_map(|rdn| rdn.as_ref().iter())
        .find(|atv| atv.oid == CN)
        .and_then(|atv| {
            PrintableStringRef::try_from(&atv.value)
                .map(|s| s.as_str().to_owned())
                .or_else(|_| Utf8StringRef::try_from(&atv.value).map(|s| s.as_str().to_owned()))
                .ok()
        })
}

/// The `basicConstraints` of a certificate: `Ok(None)` when absent.
fn basic_constraints(
    cert: &Certificate,
) -> Result<Option<x509_cert::ext::pkix::BasicConstraints>, String> {
    cert.tbs_certificate()
        .get_extension::<x509_cert::ext::pkix::BasicConstraints>()
        .map(|found| found.map(|(_, bc)| bc))
        .map_err(|_| {
            format!(
                "{}: basicConstraints does not parse",
                format_name(cert.tbs_certificate().subject())
            )
        })
}

/// Whether the certificate's `keyUsage` asserts `usage`: `Ok(None)` when it has no `keyUsage`.
fn key_usage_allows(
    cert: &Certificate,
    usage: x509_cert::ext::pkix::KeyUsages,
) -> Result<Option<bool>, String> {
    cert.tbs_certificate()
        .get_extension::<x509_cert::ext::pkix::KeyUsage>()
        .map(|found| found.map(|(_, ku)| ku.0.contains(usage)))
        .map_err(|_| {
            format!(
                "{}: keyUsage does not parse",
                format_name(cert.tbs_certificate().subject())
            )
        })
}

/// An issuer must be a CA (`basicConstraints` cA TRUE), its `keyUsage` must be present and assert
/// `keyCertSign` (RFC 5280 §4.2.1.3: CAs include it), and its `pathLenConstraint`, when present,
/// must allow `intermediates_below` CA certificates between it and the leaf. Self-issued
/// intermediates are counted too: no vendor chain has them, so this is only stricter.
pub fn check_issuer(issuer: &Certificate, intermediates_below: usize) -> Result<(), String> {
    use x509_cert::ext::pkix::KeyUsages;
    let name = || format_name(issuer.tbs_certificate().subject());
    if !basic_constraints(issuer)?.is_some_and(|bc| bc.ca) {
        return Err(format!(
            "{} issues a certificate but is not a CA (basicConstraints cA is not TRUE)",
            name()
        ));
    }
    check_path_length(issuer, intermediates_below)?;
    match key_usage_allows(issuer, KeyUsages::KeyCertSign)? {
        Some(true) => Ok(()),
        Some(false) => Err(format!(
            "{} issues a certificate but its keyUsage does not assert keyCertSign",
            name()
        )),
        None => Err(format!(
            "{} issues a certificate but has no keyUsage (a CA must assert keyCertSign)",
            name()
        )),
    }
}

/// An issuer's `pathLenConstraint`, when present, allows `intermediates_below` CAs under it.
pub fn check_path_length(issuer: &Certificate, intermediates_below: usize) -> Result<(), String> {
    match basic_constraints(issuer)?.and_then(|bc| bc.path_len_constraint) {
        Some(max) if intermediates_below > usize::from(max) => Err(format!(
            "{} allows {max} CA certificate(s) below it (pathLenConstraint), the path has {intermediates_below}",
            format_name(issuer.tbs_certificate().subject())
        )),
        _ => Ok(()),
    }
}

/// The issuer of a CRL must assert `cRLSign` in its `keyUsage` (RFC 5280 §4.2.1.3).
pub fn check_crl_issuer(issuer: &Certificate) -> Result<(), String> {
    match key_usage_allows(issuer, x509_cert::ext::pkix::KeyUsages::CRLSign)? {
        Some(true) => Ok(()),
        _ => Err(format!(
            "{} signs a CRL but its keyUsage does not assert cRLSign",
            format_name(issuer.tbs_certificate().subject())
        )),
    }
}

/// A leaf signs evidence, not certificates: it must not be a CA, and a `keyUsage`, when present,
/// must assert `digitalSignature`.
pub fn check_end_entity(leaf: &Certificate) -> Result<(), String> {
    use x509_cert::ext::pkix::KeyUsages;
    let name = || format_name(leaf.tbs_certificate().subject());
    if basic_constraints(leaf)?.is_some_and(|bc| bc.ca) {
        return Err(format!("the leaf {} is a CA certificate", name()));
    }
    if key_usage_allows(leaf, KeyUsages::DigitalSignature)? == Some(false) {
        return Err(format!(
            "the leaf {}'s keyUsage does not assert digitalSignature",
            name()
        ));
    }
    Ok(())
}

/// The CA rules along a path whose signatures already verified: `path` is leaf first, trust
/// anchor last. The leaf is an end entity ([`check_end_entity`]); every other certificate, the
/// anchor included, is an issuer ([`check_issuer`]) with the CAs between it and the leaf below it.
pub fn check_path(path: &[&Certificate]) -> Result<(), String> {
    let Some((leaf, issuers)) = path.split_first() else {
        return Err("empty certificate path".into());
    };
    check_end_entity(leaf)?;
    for (below, issuer) in issuers.iter().enumerate() {
        check_issuer(issuer, below)?;
    }
    Ok(())
}

/// A certificate revocation list, parsed for revocation lookups. It accepts exactly what
/// `x509-cert`'s `CertificateList` accepts (the same DER rules, field by field; the vector tests
/// compare the two), but checks each revoked entry in place and keeps only its serial number:
/// decoding dozens of entries into owned structures dominated a PCK CRL's parse.
#[derive(Clone, Debug)]
pub struct RevocationList {
    der: Vec<u8>,
    signature_algorithm: ObjectIdentifier,
    signature: Option<Vec<u8>>,
    issuer: x509_cert::name::Name,
    this_update: u64,
    next_update: Option<u64>,
    /// Every revoked serial (leading zeros stripped), concatenated; `serial_ends` splits them.
    serials: Vec<u8>,
    serial_ends: Vec<usize>,
}

/// `x509-cert`'s bound on a decoded serial number (20 octets, plus one for a sign octet).
const MAX_SERIAL_LEN: usize = 21;

impl RevocationList {
    /// Parses a DER or PEM CRL.
    pub fn from_der_or_pem(bytes: &[u8]) -> Result<Self, X509Error> {
        let der = if looks_like_pem(bytes) {
            let blocks = public_pem_blocks(bytes, "X509 CRL")?;
            blocks.into_iter().next().ok_or(X509Error::NoPem("crl"))?
        } else {
            bytes.to_vec()
        };
        Self::from_der(der)
    }

    /// `CertificateList` as RFC 5280 §5.1 and `x509-cert` define it; trailing bytes rejected.
    fn from_der(der: Vec<u8>) -> Result<Self, X509Error> {
        use der::Reader as _;
        let mut list = Self {
            der: Vec::new(),
            signature_algorithm: ECDSA_SHA256,
            signature: None,
            issuer: x509_cert::name::Name::default(),
            this_update: 0,
            next_update: None,
            serials: Vec::new(),
            serial_ends: Vec::new(),
        };
        let mut algorithms_agree = true;
        let mut reader = der::SliceReader::new(&der).map_err(|_| X509Error::Der("crl"))?;
        reader
            .sequence(|outer| {
                let signed_algorithm = outer.sequence(|tbs| list.read_tbs(tbs))?;
                let algorithm = spki::AlgorithmIdentifierRef::decode(outer)?;
                // RFC 5280 §5.1.1.2: the unsigned outer algorithm must equal the signed one.
                algorithms_agree = algorithm == signed_algorithm;
                list.signature_algorithm = algorithm.oid;
                let signature = der::asn1::BitStringRef::decode(outer)?;
                // `None` when the BIT STRING has unused bits: such a signature never verifies.
                list.signature = signature.as_bytes().map(<[u8]>::to_vec);
                Ok::<_, der::Error>(())
            })
            .and_then(|()| reader.finish().map(drop))
            .map_err(|_| X509Error::Der("crl"))?;
        if !algorithms_agree {
            return Err(X509Error::Der(
                "crl whose signature algorithm differs from its signed one",
            ));
        }
        list.der = der;
        Ok(list)
    }

    /// Reads the `TBSCertList` and returns its (signed) signature algorithm.
    fn read_tbs<'a>(
        &mut self,
        tbs: &mut der::SliceReader<'a>,
    ) -> der::Result<spki::AlgorithmIdentifierRef<'a>> {
        use der::{Reader as _, Tag};
        use x509_cert::time::Time;
        x509_cert::Version::decode(tbs)?;
        let signed_algorithm = spki::AlgorithmIdentifierRef::decode(tbs)?;
        self.issuer = x509_cert::name::Name::decode(tbs)?;
        self.this_update = Time::decode(tbs)?.to_unix_duration().as_secs();
        self.next_update = Option::<Time>::decode(tbs)?.map(|t| t.to_unix_duration().as_secs());
        if !tbs.is_finished() && Tag::peek(tbs)? == Tag::Sequence {
            tbs.sequence(|entries| {
                while !entries.is_finished() {
                    entries.sequence(|entry| self.read_entry(entry))?;
                }
                Ok::<_, der::Error>(())
            })?;
        }
        der::asn1::ContextSpecific::<x509_cert::ext::Extensions>::decode_explicit(
            tbs,
            der::TagNumber(0),
        )?;
        Ok(signed_algorithm)
    }

    /// `SEQUENCE { userCertificate INTEGER, revocationDate Time, crlEntryExtensions OPTIONAL }`.
    fn read_entry(&mut self, entry: &mut der::SliceReader<'_>) -> der::Result<()> {
        use der::{Reader as _, Tag};
        let serial = der::asn1::IntRef::decode(entry)?;
        if serial.as_bytes().len() > MAX_SERIAL_LEN {
            return Err(Tag::Integer.value_error().into());
        }
        x509_cert::time::Time::decode(entry)?;
        if !entry.is_finished() && Tag::peek(entry)? == Tag::Sequence {
            entry.sequence(|extensions| {
                while !extensions.is_finished() {
                    extensions.sequence(|ext| {
                        <ObjectIdentifier>::decode(ext)?;
                        Option::<bool>::decode(ext)?;
                        <&der::asn1::OctetStringRef>::decode(ext)?;
                        Ok::<_, der::Error>(())
                    })?;
                }
                Ok::<_, der::Error>(())
            })?;
        }
        let bytes = serial.as_bytes();
        let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        self.serials
            .extend_from_slice(bytes.get(first..).unwrap_or_default());
        self.serial_ends.push(self.serials.len());
        Ok(())
    }

    /// The issuer as an RFC 4514 string.
    #[must_use]
    pub fn issuer(&self) -> String {
        format_name(&self.issuer)
    }

    /// Whether the CRL's issuer name equals the certificate's subject name.
    #[must_use]
    pub fn issued_by_name(&self, cert: &Cert) -> bool {
        self.issuer == *cert.parsed.tbs_certificate().subject()
    }

    /// Verifies the CRL signature with `issuer`'s public key.
    pub fn verify_signed_by(&self, issuer: &PublicKey) -> Result<(), X509Error> {
        let tbs = first_element(&self.der).ok_or(X509Error::Der("crl"))?;
        let sig = self.signature.as_ref().ok_or(X509Error::Signature)?;
        verify_signature(issuer, &self.signature_algorithm, tbs, sig)
    }

    /// `thisUpdate` and `nextUpdate` (no nextUpdate: `u64::MAX`), seconds since the Unix epoch.
    #[must_use]
    pub fn window(&self) -> (u64, u64) {
        (self.this_update, self.next_update.unwrap_or(u64::MAX))
    }

    /// Whether a serial number (as returned by [`Cert::serial`]) is listed.
    #[must_use]
    pub fn revokes(&self, serial: &[u8]) -> bool {
        let mut start = 0;
        self.serial_ends.iter().any(|&end| {
            let listed = self.serials.get(start..end);
            start = end;
            listed == Some(serial)
        })
    }

    /// Number of revoked entries.
    #[must_use]
    pub fn entries(&self) -> usize {
        self.serial_ends.len()
    }
}

/// The RFC 4514 short names of the attributes certificate names mostly hold; the same names
/// `x509-cert`'s `Display` finds by scanning the whole OID database, which costs microseconds
/// per attribute.
const NAME_ATTRIBUTES: [(ObjectIdentifier, &str); 6] = [
    (ObjectIdentifier::new_unwrap("2.5.4.3"), "CN"),
    (ObjectIdentifier::new_unwrap("2.5.4.6"), "C"),
    (ObjectIdentifier::new_unwrap("2.5.4.7"), "L"),
    (ObjectIdentifier::new_unwrap("2.5.4.8"), "ST"),
    (ObjectIdentifier::new_unwrap("2.5.4.10"), "O"),
    (ObjectIdentifier::new_unwrap("2.5.4.11"), "OU"),
];

/// A name as an RFC 4514 string, exactly as `x509-cert`'s `Display` writes it.
#[must_use]
pub fn format_name(name: &x509_cert::name::Name) -> String {
    let rdns: &Vec<x509_cert::name::RelativeDistinguishedName> = name.as_ref().as_ref();
    let mut out = String::new();
    // RFC 4514 writes the RDNs last first.
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, atv) in rdn.as_ref().iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            push_attribute(&mut out, atv);
        }
    }
    out
}

fn push_attribute(out: &mut String, atv: &x509_cert::attr::AttributeTypeAndValue) {
    use der::asn1::{PrintableStringRef, Utf8StringRef};
    use der::Tagged as _;
    use std::fmt::Write as _;
    let key = NAME_ATTRIBUTES
        .iter()
        .find_map(|(oid, key)| (*oid == atv.oid).then_some(*key));
    let value = match atv.value.tag() {
        der::Tag::PrintableString => PrintableStringRef::try_from(&atv.value)
            .ok()
            .map(|s| s.as_str()),
        der::Tag::Utf8String => Utf8StringRef::try_from(&atv.value).ok().map(|s| s.as_str()),
        _ => None,
    };
    let (Some(key), Some(value)) = (key, value) else {
        // Other attributes and string types: the library's own rendering.
        let _ = write!(out, "{atv}");
        return;
    };
    out.push_str(key);
    out.push('=');
    let mut chars = value.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || chars.peek().is_none() => out.push_str("\\ "),
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\x00'..='\x1f' | '\x7f' => {
                let _ = write!(out, "\\{:02x}", u32::from(c));
            }
            _ => out.push(c),
        }
    }
}

/// Whether the bytes look like PEM text rather than DER.
#[must_use]
pub fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

/// Decodes every PEM block with this label, in order. Text between blocks is ignored; a block
/// that does not decode is an error (a corrupted chain must not silently lose a certificate).
pub fn pem_blocks(text: &[u8], label: &'static str) -> Result<Vec<Vec<u8>>, X509Error> {
    each_pem_block(text, label, |block, _| {
        let (found, der) = der::pem::decode_vec(block).ok()?;
        (found == label).then_some(der)
    })
}

/// [`pem_blocks`] for public data (certificates, CRLs): the same RFC 7468 strict grammar and
/// 64-column lines, but a table-driven base64 decoder, several times faster than the
/// constant-time one `pem-rfc7468` uses (which only secrets need).
pub fn public_pem_blocks(text: &[u8], label: &'static str) -> Result<Vec<Vec<u8>>, X509Error> {
    each_pem_block(text, label, |_, encapsulated| decode_pem_text(encapsulated))
}

/// Finds each `-----BEGIN label-----` … `-----END label-----` block and decodes it with
/// `decode(whole block, text between the boundary lines)`.
fn each_pem_block(
    text: &[u8],
    label: &'static str,
    decode: impl Fn(&[u8], &[u8]) -> Option<Vec<u8>>,
) -> Result<Vec<Vec<u8>>, X509Error> {
    let text = std::str::from_utf8(text).map_err(|_| X509Error::Pem)?;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let after = rest.get(start..).ok_or(X509Error::Pem)?;
        let stop = after.find(&end).ok_or(X509Error::Pem)? + end.len();
        let block = after.as_bytes().get(..stop).ok_or(X509Error::Pem)?;
        let encapsulated = block
            .get(begin.len()..stop - end.len())
            .ok_or(X509Error::Pem)?;
        out.push(decode(block, encapsulated).ok_or(X509Error::Pem)?);
        rest = after.get(stop..).ok_or(X509Error::Pem)?;
    }
    if out.is_empty() {
        return Err(X509Error::NoPem(label));
    }
    Ok(out)
}

/// Decodes what lies between a PEM block's boundary lines: one line break after the first and
/// before the last, then base64 lines of exactly 64 characters each ended by CRLF, CR or LF, the
/// last one 1 to 64 characters (the grammar `pem-rfc7468` and `base64ct` enforce).
fn decode_pem_text(between: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    const WIDTH: usize = 64;
    let mut rest = strip_trailing_eol(strip_leading_eol(between)?)?;
    if rest.is_empty() {
        return None;
    }
    let mut b64 = Vec::with_capacity(rest.len());
    loop {
        match rest.get(WIDTH..) {
            None | Some([]) => {
                b64.extend_from_slice(strip_trailing_eol(rest).unwrap_or(rest));
                break;
            }
            Some(after) => {
                b64.extend_from_slice(rest.get(..WIDTH)?);
                rest = strip_leading_eol(after)?;
                if rest.is_empty() {
                    break;
                }
            }
        }
    }
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

fn strip_leading_eol(bytes: &[u8]) -> Option<&[u8]> {
    match bytes {
        [b'\r', b'\n', rest @ ..] | [b'\n' | b'\r', rest @ ..] => Some(rest),
        _ => None,
    }
}

fn strip_trailing_eol(bytes: &[u8]) -> Option<&[u8]> {
    match bytes {
        [head @ .., b'\r', b'\n'] | [head @ .., b'\n' | b'\r'] => Some(head),
        _ => None,
    }
}

/// Parses every certificate of a PEM bundle, or one DER certificate.
pub fn certs_from_der_or_pem(bytes: &[u8]) -> Result<Vec<Cert>, X509Error> {
    if looks_like_pem(bytes) {
        pem_blocks(bytes, "CERTIFICATE")?
            .iter()
            .map(|d| Cert::from_der(d))
            .collect()
    } else {
        Ok(vec![Cert::from_der(bytes)?])
    }
}

fn public_key_from_spki(
    spki: &x509_cert::spki::SubjectPublicKeyInfoOwned,
) -> Result<PublicKey, X509Error> {
    let alg = spki.algorithm.oid;
    let raw = spki
        .subject_public_key
        .as_bytes()
        .ok_or(X509Error::PublicKey)?;
    if alg == EC_PUBLIC_KEY {
        let curve: ObjectIdentifier = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as().ok())
            .ok_or(X509Error::PublicKey)?;
        if curve == SECP256R1 {
            PublicKey::new(KeyKind::P256, raw)
        } else if curve == SECP384R1 {
            PublicKey::new(KeyKind::P384, raw)
        } else {
            Err(X509Error::UnsupportedAlgorithm(format!("curve {curve}")))
        }
    } else if alg == RSA_ENCRYPTION || alg == RSASSA_PSS {
        // The BIT STRING holds a PKCS#1 RSAPublicKey.
        PublicKey::new(KeyKind::Rsa, raw)
    } else {
        Err(X509Error::UnsupportedAlgorithm(format!("key {alg}")))
    }
}

/// Verifies an X.509 signature (DER ECDSA or RSASSA-PSS) over `msg`.
fn verify_signature(
    key: &PublicKey,
    alg: &ObjectIdentifier,
    msg: &[u8],
    signature: &[u8],
) -> Result<(), X509Error> {
    let matches = matches!(
        (key.kind(), *alg),
        (KeyKind::P256, ECDSA_SHA256) | (KeyKind::P384, ECDSA_SHA384) | (KeyKind::Rsa, RSASSA_PSS)
    );
    if !matches {
        return Err(X509Error::UnsupportedAlgorithm(format!("signature {alg}")));
    }
    key.verify_der(msg, signature)
}

/// The TLV bytes of the first element inside an outer DER SEQUENCE (the signed TBS part).
fn first_element(der: &[u8]) -> Option<&[u8]> {
    let (_, inner_start, _) = tlv_header(der)?;
    let inner = der.get(inner_start..)?;
    let (_, start, len) = tlv_header(inner)?;
    inner.get(..start.checked_add(len)?)
}

/// Parses a DER tag and definite length: (tag, header length, content length).
fn tlv_header(bytes: &[u8]) -> Option<(u8, usize, usize)> {
    let tag = *bytes.first()?;
    let first = *bytes.get(1)?;
    if first < 0x80 {
        return Some((tag, 2, usize::from(first)));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 4 {
        return None;
    }
    let mut len = 0usize;
    for b in bytes.get(2..2 + n)? {
        len = (len << 8) | usize::from(*b);
    }
    Some((tag, 2 + n, len))
}

/// The (tag, content) of each DER element in `bytes`, which they must fill exactly. Only
/// single-byte tags; `None` on any malformation.
#[must_use]
pub fn der_items(mut bytes: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (tag, start, len) = tlv_header(bytes)?;
        if tag & 0x1f == 0x1f {
            return None;
        }
        let end = start.checked_add(len)?;
        out.push((tag, bytes.get(start..end)?));
        bytes = bytes.get(end..)?;
    }
    Some(out)
}

fn strip_leading_zeros(bytes: &[u8]) -> Vec<u8> {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes.get(first..).unwrap_or_default().to_vec()
}

/// Formats seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`.
#[must_use]
pub fn fmt_unix(secs: u64) -> String {
    match der::DateTime::from_unix_duration(std::time::Duration::from_secs(secs)) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minutes(),
            t.seconds()
        ),
        Err(_) => format!("@{secs}"),
    }
}

/// Parses an RFC 3339 UTC instant `YYYY-MM-DDTHH:MM:SS[.fff]Z` (as Intel collateral writes them).
#[must_use]
pub fn parse_rfc3339_utc(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() < 20 || *b.last()? != b'Z' || b.get(4) != Some(&b'-') || b.get(10) != Some(&b'T') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u16> { text.get(r)?.parse().ok() };
    let dt = der::DateTime::new(
        num(0..4)?,
        u8::try_from(num(5..7)?).ok()?,
        u8::try_from(num(8..10)?).ok()?,
        u8::try_from(num(11..13)?).ok()?,
        u8::try_from(num(14..16)?).ok()?,
        u8::try_from(num(17..19)?).ok()?,
    )
    .ok()?;
    Some(dt.unix_duration().as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip() {
        let t = parse_rfc3339_utc("2025-07-19T10:00:35Z").unwrap();
        assert_eq!(t, 1_752_919_235);
        assert_eq!(fmt_unix(t), "2025-07-19T10:00:35Z");
        assert_eq!(parse_rfc3339_utc("2025-07-19T10:00:35.123Z"), Some(t));
        assert_eq!(parse_rfc3339_utc("2025-07-19 10:00:35"), None);
    }

    #[test]
    fn format_name_matches_the_library_display() {
        use std::str::FromStr as _;
        for text in [
            "CN=Intel SGX Root CA,O=Intel Corporation,L=Santa Clara,ST=CA,C=US",
            "CN=a+OU=b,O=x\\,y\\;z,L=\\ lead and trail\\ ,ST=\\#hash,C=US",
            "CN=ctl\\0a\\<\\>\\\"+UID=jdoe,O=é",
            "2.5.4.5=1234,DC=example,DC=com",
        ] {
            let name = x509_cert::name::Name::from_str(text).unwrap();
            assert_eq!(format_name(&name), name.to_string(), "{text}");
        }
        let root = Cert::from_der_or_pem(include_bytes!("tdx/intel_sgx_root_ca.pem")).unwrap();
        assert_eq!(
            root.subject(),
            root.parsed.tbs_certificate().subject().to_string()
        );
    }

    /// `public_pem_blocks` must accept exactly what `pem_blocks` accepts, with the same bytes.
    #[test]
    fn public_pem_blocks_match_pem_blocks_under_mutation() {
        let root = include_str!("tdx/intel_sgx_root_ca.pem");
        let two = format!("preamble\n{root}between\n{root}");
        let crlf = root.replace('\n', "\r\n");
        let cr = root.replace('\n', "\r");
        let every: &[u8] = &[
            b'\n', b'\r', b'A', b'Q', b'=', b'-', b' ', b'/', b'+', b'a', 0,
        ];
        let breaks: &[u8] = b"\n\r=";
        for (text, bytes) in [
            (root.to_owned(), every),
            (two, breaks),
            (crlf, breaks),
            (cr, breaks),
        ] {
            let text = text.as_bytes();
            assert!(pem_blocks(text, "CERTIFICATE").is_ok());
            let agree = |t: &[u8]| {
                assert_eq!(
                    public_pem_blocks(t, "CERTIFICATE"),
                    pem_blocks(t, "CERTIFICATE"),
                    "{:?}",
                    String::from_utf8_lossy(t)
                );
            };
            agree(text);
            for i in 0..text.len() {
                for &b in bytes {
                    let mut m = text.to_vec();
                    m[i] = b;
                    agree(&m);
                    let mut m = text.to_vec();
                    m.insert(i, b);
                    agree(&m);
                }
                let mut m = text.to_vec();
                m.remove(i);
                agree(&m);
                agree(&text[..i]);
            }
        }
    }

    #[test]
    fn tlv_header_rejects_indefinite_and_short() {
        assert_eq!(tlv_header(&[0x30, 0x80]), None);
        assert_eq!(tlv_header(&[0x30]), None);
        assert_eq!(tlv_header(&[0x30, 0x82, 0x01, 0x00]), Some((0x30, 4, 256)));
    }
}
