//! Base-mode sender setup with a caller-chosen ephemeral secret key, for published test vectors that
//! give `skE` itself (RFC 9458 Appendix A) rather than an `ikm_e`. Added by the OHTTP helper.

use crate::context::{Mode, SenderContext};
use crate::keys::KeyMaterial;
use crate::{kem, Error, Kem, SecretKey, Suite};

impl Suite {
    /// `SetupBaseS(pkR, info)` with the ephemeral secret key `sk_e` (DHKEMs only). For test vectors only:
    /// reusing an ephemeral key destroys the security of HPKE.
    pub fn setup_base_sender_with_ephemeral(
        &self,
        pk_r: &[u8],
        info: &[u8],
        sk_e: &SecretKey,
    ) -> Result<(Vec<u8>, SenderContext), Error> {
        if self.kem == Kem::X25519Kyber768Draft00 {
            return Err(Error::Unsupported(
                "an explicit ephemeral key needs a dhkem",
            ));
        }
        if sk_e.kem() != self.kem {
            return Err(Error::InvalidKey);
        }
        let KeyMaterial::Dh(sk_e) = sk_e.material() else {
            return Err(Error::Unsupported(
                "an explicit ephemeral key needs a dhkem",
            ));
        };
        let encapsulation = kem::dhkem_encap(self.kem, sk_e, pk_r, None)?;
        let ctx = SenderContext::new(*self, Mode::Base, &encapsulation.shared_secret, info, None)?;
        Ok((encapsulation.enc, ctx))
    }
}
