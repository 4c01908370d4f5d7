//! libcrux's unpacked ML-KEM-768 keys (the matrix `A` sampled and the vectors in NTT form once, not
//! per call), behind one type per key kind that dispatches at run time to the AVX2 (x86-64), NEON
//! (aarch64) or portable instantiation, chosen once per key from the CPU's features.
//!
//! Only the ML-KEM functions are used here: round 3 and ML-KEM share the IND-CPA scheme and
//! `(Kbar, r) = G(m || H(pk))`; the round-3 steps around them are in `lib.rs`.

#[cfg(target_arch = "x86_64")]
use libcrux_ml_kem::mlkem768::avx2;
#[cfg(target_arch = "aarch64")]
use libcrux_ml_kem::mlkem768::neon;
use libcrux_ml_kem::mlkem768::{
    portable, MlKem768Ciphertext, MlKem768PrivateKey, MlKem768PublicKey,
};

/// Runs `$body` with `$key` bound to the variant's key and `b` naming its libcrux module.
macro_rules! dispatch {
    ($value:expr, $ty:ident, $key:ident => $body:expr) => {
        match $value {
            $ty::Portable($key) => {
                use portable as b;
                $body
            }
            #[cfg(target_arch = "x86_64")]
            $ty::Avx2($key) => {
                use avx2 as b;
                $body
            }
            #[cfg(target_arch = "aarch64")]
            $ty::Neon($key) => {
                use neon as b;
                $body
            }
        }
    };
}

/// Builds the variant for this CPU from `$make`, evaluated with `b` naming its libcrux module.
macro_rules! for_this_cpu {
    ($ty:ident, $make:expr) => {{
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            use avx2 as b;
            return $ty::Avx2(Box::new($make));
        }
        #[cfg(target_arch = "aarch64")]
        if std::arch::is_aarch64_feature_detected!("neon") {
            use neon as b;
            return $ty::Neon(Box::new($make));
        }
        {
            use portable as b;
            $ty::Portable(Box::new($make))
        }
    }};
}

/// An unpacked key pair (secret). libcrux's type has no zeroize support, so dropping it overwrites
/// it in place with the unpacking of an all-zero secret key (zero secret vector, zero `z`).
pub(crate) enum KeyPair {
    Portable(Box<portable::unpacked::MlKem768KeyPairUnpacked>),
    #[cfg(target_arch = "x86_64")]
    Avx2(Box<avx2::unpacked::MlKem768KeyPairUnpacked>),
    #[cfg(target_arch = "aarch64")]
    Neon(Box<neon::unpacked::MlKem768KeyPairUnpacked>),
}

impl KeyPair {
    pub(crate) fn unpack(private_key: &MlKem768PrivateKey) -> Self {
        for_this_cpu!(KeyPair, {
            let mut key_pair = b::unpacked::init_key_pair();
            b::unpacked::key_pair_from_private_mut(private_key, &mut key_pair);
            key_pair
        })
    }

    /// ML-KEM decapsulation: `Kbar'` for a valid ciphertext, `J(z || c)` otherwise.
    pub(crate) fn decapsulate(&self, ciphertext: &MlKem768Ciphertext) -> [u8; 32] {
        dispatch!(self, KeyPair, key => b::unpacked::decapsulate(key, ciphertext))
    }
}

impl Drop for KeyPair {
    fn drop(&mut self) {
        let zero = MlKem768PrivateKey::default();
        dispatch!(self, KeyPair, key => {
            b::unpacked::key_pair_from_private_mut(&zero, key);
            core::hint::black_box(&key);
        });
    }
}

/// An unpacked public key.
pub(crate) enum PublicKey {
    Portable(Box<portable::unpacked::MlKem768PublicKeyUnpacked>),
    #[cfg(target_arch = "x86_64")]
    Avx2(Box<avx2::unpacked::MlKem768PublicKeyUnpacked>),
    #[cfg(target_arch = "aarch64")]
    Neon(Box<neon::unpacked::MlKem768PublicKeyUnpacked>),
}

impl PublicKey {
    pub(crate) fn unpack(public_key: &MlKem768PublicKey) -> Self {
        for_this_cpu!(PublicKey, {
            let mut unpacked = b::unpacked::init_public_key();
            b::unpacked::unpacked_public_key(public_key, &mut unpacked);
            unpacked
        })
    }

    /// ML-KEM encapsulation with message `m`: `(c, Kbar)`.
    pub(crate) fn encapsulate(&self, message: [u8; 32]) -> (MlKem768Ciphertext, [u8; 32]) {
        dispatch!(self, PublicKey, key => b::unpacked::encapsulate(key, message))
    }
}
