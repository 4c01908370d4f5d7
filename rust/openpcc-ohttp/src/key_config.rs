//! Key configurations (RFC 9458 §3) and the `application/ohttp-keys` list format.

use openpcc_hpke::{Aead, Kdf, Kem};

use crate::Error;

/// One (KDF, AEAD) pair a key config offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SymmetricSuite {
    /// HPKE KDF.
    pub kdf: Kdf,
    /// HPKE AEAD (never export-only: OHTTP seals).
    pub aead: Aead,
}

/// A gateway's public key configuration:
/// `key_id (1) || kem_id (2) || public_key (Npk) || u16 sym_len || (kdf_id (2) || aead_id (2))*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyConfig {
    key_id: u8,
    kem: Kem,
    public_key: Vec<u8>,
    symmetric: Vec<SymmetricSuite>,
}

/// The symmetric algorithms length is a u16 and a multiple of 4.
const MAX_SYMMETRIC: usize = 65532 / 4;

impl KeyConfig {
    /// Validates and builds a key config: the public key has the KEM's length, and there are
    /// 1..=16383 symmetric suites, none export-only.
    pub fn new(
        key_id: u8,
        kem: Kem,
        public_key: Vec<u8>,
        symmetric: Vec<SymmetricSuite>,
    ) -> Result<Self, Error> {
        if public_key.len() != kem.public_key_len() {
            return Err(Error::KeyConfig("public key length does not match the kem"));
        }
        if symmetric.is_empty() {
            return Err(Error::KeyConfig("no symmetric algorithms"));
        }
        if symmetric.len() > MAX_SYMMETRIC {
            return Err(Error::KeyConfig("too many symmetric algorithms"));
        }
        if symmetric.iter().any(|s| s.aead == Aead::ExportOnly) {
            return Err(Error::Unsupported("aead", Aead::ExportOnly.id()));
        }
        Ok(Self {
            key_id,
            kem,
            public_key,
            symmetric,
        })
    }

    /// The key identifier.
    #[must_use]
    pub fn key_id(&self) -> u8 {
        self.key_id
    }

    /// The KEM.
    #[must_use]
    pub fn kem(&self) -> Kem {
        self.kem
    }

    /// The serialized public key.
    #[must_use]
    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// The offered (KDF, AEAD) pairs, in order; clients use the first (as the reference does).
    #[must_use]
    pub fn symmetric(&self) -> &[SymmetricSuite] {
        &self.symmetric
    }

    /// Length of [`encode`](Self::encode)'s output.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        1 + 2 + self.public_key.len() + 2 + 4 * self.symmetric.len()
    }

    /// Appends the encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        out.push(self.key_id);
        out.extend_from_slice(&self.kem.id().to_be_bytes());
        out.extend_from_slice(&self.public_key);
        // `new` bounds the count to 16383, so the length fits a u16.
        let sym_len = u16::try_from(4 * self.symmetric.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&sym_len.to_be_bytes());
        for s in &self.symmetric {
            out.extend_from_slice(&s.kdf.id().to_be_bytes());
            out.extend_from_slice(&s.aead.id().to_be_bytes());
        }
    }

    /// The encoding as a new vector.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Decodes exactly one key config; trailing bytes are an error.
    #[allow(clippy::similar_names)] // kem_id / kdf_id are the RFC's names
    pub fn decode(data: &[u8]) -> Result<Self, Error> {
        let mut reader = Reader(data);
        let key_id = reader.u8()?;
        let kem_id = reader.u16()?;
        let kem = Kem::try_from(kem_id).map_err(|_| Error::Unsupported("kem", kem_id))?;
        let public_key = reader.take(kem.public_key_len())?.to_vec();
        let sym_len = usize::from(reader.u16()?);
        if sym_len == 0 || sym_len % 4 != 0 {
            return Err(Error::KeyConfig(
                "symmetric algorithms length must be a non-zero multiple of 4",
            ));
        }
        let mut sym = Reader(reader.take(sym_len)?);
        if !reader.0.is_empty() {
            return Err(Error::KeyConfig("trailing bytes"));
        }
        let mut symmetric = Vec::with_capacity(sym_len / 4);
        while !sym.0.is_empty() {
            let (kdf_id, aead_id) = (sym.u16()?, sym.u16()?);
            let kdf = Kdf::try_from(kdf_id).map_err(|_| Error::Unsupported("kdf", kdf_id))?;
            let aead = Aead::try_from(aead_id).map_err(|_| Error::Unsupported("aead", aead_id))?;
            symmetric.push(SymmetricSuite { kdf, aead });
        }
        Self::new(key_id, kem, public_key, symmetric)
    }
}

/// Encodes an `application/ohttp-keys` list: each config prefixed by its u16 length.
pub fn encode_key_configs(configs: &[KeyConfig]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(configs.iter().map(|c| 2 + c.encoded_len()).sum());
    for config in configs {
        let len = u16::try_from(config.encoded_len())
            .map_err(|_| Error::KeyConfig("config longer than 65535 bytes"))?;
        out.extend_from_slice(&len.to_be_bytes());
        config.encode(&mut out);
    }
    Ok(out)
}

/// Decodes an `application/ohttp-keys` list. Every entry must parse exactly (the reference's decoder
/// is laxer about the algorithms length, but its encoder never emits slack); an empty list is an error.
pub fn decode_key_configs(data: &[u8]) -> Result<Vec<KeyConfig>, Error> {
    if data.is_empty() {
        return Err(Error::KeyConfig("empty key config list"));
    }
    let mut reader = Reader(data);
    let mut configs = Vec::new();
    while !reader.0.is_empty() {
        let len = usize::from(reader.u16()?);
        configs.push(KeyConfig::decode(reader.take(len)?)?);
    }
    Ok(configs)
}

/// A cursor that fails with "truncated" instead of panicking.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let head = self.0.get(..n).ok_or(Error::KeyConfig("truncated"))?;
        self.0 = self.0.get(n..).unwrap_or_default();
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?.first().copied().unwrap_or_default())
    }

    fn u16(&mut self) -> Result<u16, Error> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([
            b.first().copied().unwrap_or_default(),
            b.get(1).copied().unwrap_or_default(),
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC9458: &str =
        "01002031e1f05a740102115220e9af918f738674aec95f54db6e04eb705aae8e79815500080001000100010003";

    #[test]
    fn rfc9458_config_round_trips() {
        let bytes = hex::decode(RFC9458).unwrap();
        let config = KeyConfig::decode(&bytes).unwrap();
        assert_eq!(config.key_id(), 1);
        assert_eq!(config.kem(), Kem::X25519);
        assert_eq!(
            config.symmetric(),
            [
                SymmetricSuite {
                    kdf: Kdf::HkdfSha256,
                    aead: Aead::Aes128Gcm
                },
                SymmetricSuite {
                    kdf: Kdf::HkdfSha256,
                    aead: Aead::ChaCha20Poly1305
                }
            ]
        );
        assert_eq!(config.to_bytes(), bytes);
        let list = encode_key_configs(&[config.clone(), config.clone()]).unwrap();
        assert_eq!(&list[..2], &[0, 45]);
        assert_eq!(decode_key_configs(&list).unwrap(), [config.clone(), config]);
    }

    #[test]
    fn every_truncation_and_trailing_byte_is_rejected() {
        let bytes = hex::decode(RFC9458).unwrap();
        for cut in 0..bytes.len() {
            assert!(KeyConfig::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            KeyConfig::decode(&long),
            Err(Error::KeyConfig("trailing bytes"))
        ));
    }

    #[test]
    fn bad_fields_give_typed_errors() {
        let bytes = hex::decode(RFC9458).unwrap();
        let mut unknown_kem = bytes.clone();
        unknown_kem[2] = 0x99;
        assert!(matches!(
            KeyConfig::decode(&unknown_kem),
            Err(Error::Unsupported("kem", 0x0099))
        ));
        let mut odd_len = bytes.clone();
        odd_len[36] = 6;
        assert!(matches!(
            KeyConfig::decode(&odd_len),
            Err(Error::KeyConfig(_))
        ));
        let mut unknown_aead = bytes.clone();
        unknown_aead[40] = 9;
        assert!(matches!(
            KeyConfig::decode(&unknown_aead),
            Err(Error::Unsupported("aead", 9))
        ));
        let empty = KeyConfig::new(1, Kem::X25519, vec![0; 32], vec![]);
        assert!(matches!(empty, Err(Error::KeyConfig(_))));
        let short_pk = KeyConfig::new(
            1,
            Kem::X25519,
            vec![0; 31],
            vec![SymmetricSuite {
                kdf: Kdf::HkdfSha256,
                aead: Aead::Aes128Gcm,
            }],
        );
        assert!(matches!(short_pk, Err(Error::KeyConfig(_))));
        assert!(matches!(decode_key_configs(&[]), Err(Error::KeyConfig(_))));
        assert!(matches!(
            decode_key_configs(&[0, 41, 1]),
            Err(Error::KeyConfig("truncated"))
        ));
    }
}
