//! Known answers from the reference description (`openpcc-reference.md` §13.3).

use openpcc_kyber::{keypair_from_seed, PUBLIC_KEY_LEN, SECRET_KEY_LEN};

/// The Kyber768 half of the mem-gateway's dev key: bytes 32..95 of its 0x0030 `DeriveKeyPair` expand.
const GATEWAY_KYBER_SEED: &str = "5befba09d5ce3ee22c39ec74f7a799fc0e6aba077a9dd5bcc5976326921c32f1\
                                  a592b7aa7056f6750b205a1c4cf725b725cc945937d2e081886e6f8c93a6a538";

#[test]
fn gateway_dev_seed_gives_the_public_key_of_the_signed_bundle() {
    let seed: [u8; 64] = hex::decode(GATEWAY_KYBER_SEED).unwrap().try_into().unwrap();
    let (pk, sk) = keypair_from_seed(&seed);
    assert_eq!(pk.len(), PUBLIC_KEY_LEN);
    assert_eq!(hex::encode(&pk[..16]), "ede001b083470ba169750cae7e097989");
    // The secret key embeds pk and ends with z, the second half of the seed.
    assert_eq!(sk.as_bytes().len(), SECRET_KEY_LEN);
    assert_eq!(&sk.as_bytes()[1152..1152 + PUBLIC_KEY_LEN], pk.as_slice());
    assert_eq!(&sk.as_bytes()[2368..], &seed[32..]);
}
