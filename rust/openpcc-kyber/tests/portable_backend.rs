//! libcrux chooses its AVX2 (x86-64) or NEON (aarch64) back end at run time and otherwise runs its
//! portable code. The other tests go through whichever back end this CPU selects; this one runs the
//! portable instantiation directly on every circl vector, the way `openpcc_kyber` uses it (key
//! generation, then ML-KEM on unpacked keys with round 3's hashing around it), so a CPU without AVX2
//! or NEON is covered too.

mod common;

use libcrux_ml_kem::mlkem768::portable::{self, unpacked};
use libcrux_ml_kem::mlkem768::{self, MlKem768Ciphertext};
use sha3::digest::{Digest, ExtendableOutput, Update, XofReader};

fn bytes<const N: usize>(hex_value: &str) -> [u8; N] {
    hex::decode(hex_value).unwrap().try_into().unwrap()
}

fn shake256_32(parts: &[&[u8]]) -> [u8; 32] {
    let mut shake = sha3::Shake256::default();
    for part in parts {
        shake.update(part);
    }
    let mut out = [0u8; 32];
    shake.finalize_xof().read(&mut out);
    out
}

#[test]
fn portable_back_end_matches_circl() {
    let file = common::parse(&common::committed_vectors_json());
    assert_eq!(file.vectors.len(), 12);
    for v in &file.vectors {
        let name = &v.name;
        let pair = portable::kyber_generate_key_pair(bytes(&v.key_seed));
        assert_eq!(hex::encode(pair.pk()), v.public_key, "{name}: public key");
        assert_eq!(hex::encode(pair.sk()), v.secret_key, "{name}: secret key");

        let mut public_key = unpacked::init_public_key();
        unpacked::unpacked_public_key(pair.public_key(), &mut public_key);
        let message: [u8; 32] = sha3::Sha3_256::digest(bytes::<32>(&v.encaps_seed)).into();
        let (ct, kbar) = unpacked::encapsulate(&public_key, message);
        assert_eq!(
            hex::encode(ct.as_slice()),
            v.ciphertext,
            "{name}: ciphertext"
        );
        let ss = shake256_32(&[&kbar, &sha3::Sha3_256::digest(ct.as_slice())]);
        assert_eq!(hex::encode(ss), v.shared_secret, "{name}: shared secret");

        let mut key_pair = unpacked::init_key_pair();
        unpacked::key_pair_from_private_mut(pair.private_key(), &mut key_pair);
        assert_eq!(
            unpacked::decapsulate(&key_pair, &ct),
            kbar,
            "{name}: decapsulation"
        );
        for ciphertext in [&v.corrupted_ciphertext, &v.random_ciphertext] {
            let ciphertext = MlKem768Ciphertext::from(bytes::<1088>(ciphertext));
            let z = &pair.sk()[2368..];
            assert_eq!(
                unpacked::decapsulate(&key_pair, &ciphertext),
                shake256_32(&[z, ciphertext.as_slice()]),
                "{name}: ML-KEM rejection J(z || c), which decapsulate detects"
            );
            assert_eq!(
                unpacked::decapsulate(&key_pair, &ciphertext),
                mlkem768::decapsulate(pair.private_key(), &ciphertext),
                "{name}: portable unpacked and run-time packed decapsulation"
            );
        }
    }
}
