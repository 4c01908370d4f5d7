//! Client side: request encapsulation and response decapsulation.

use openpcc_hpke::{SecretKey, SenderContext, SenderOptions, Suite};

use crate::header::{RequestHeader, HEADER_LEN};
use crate::response::ResponseSecret;
use crate::{Error, Form, KeyConfig};

/// Where the client's ephemeral HPKE key comes from.
#[derive(Clone, Copy, Debug, Default)]
pub enum Ephemeral<'a> {
    /// A fresh random key (the only choice outside tests).
    #[default]
    Random,
    /// Derived from this input keying material with the KEM's `DeriveKeyPair` (tests only).
    Ikm(&'a [u8]),
    /// This serialized ephemeral secret key (DHKEMs; tests only, e.g. RFC 9458 Appendix A).
    SecretKey(&'a [u8]),
}

/// The client's handle for decapsulating the response to its request, in either [`Form`]: a plain
/// one with [`decapsulate_response`](Self::decapsulate_response), a chunked one with
/// [`ChunkedResponseOpener`](crate::chunked::ChunkedResponseOpener), or whichever its media type
/// names with [`ResponseOpener::for_media_type`](crate::stream::ResponseOpener::for_media_type).
#[derive(Clone, Debug)]
pub struct ClientContext(pub(crate) ResponseSecret);

impl ClientContext {
    /// Decapsulates a plain response (`message/ohttp-res`): `response_nonce || ct`.
    pub fn decapsulate_response(&self, data: &[u8]) -> Result<Vec<u8>, Error> {
        self.0.open(data)
    }

    /// The form of the request this context belongs to.
    #[must_use]
    pub fn request_form(&self) -> Form {
        self.0.request_form()
    }
}

/// Encapsulates `msg` as a plain request (`message/ohttp-req`) for the key config's first symmetric
/// suite with a random ephemeral key: returns `hdr || enc || ct` and the context for the response.
pub fn encapsulate_request(
    config: &KeyConfig,
    msg: &[u8],
) -> Result<(Vec<u8>, ClientContext), Error> {
    encapsulate_request_with(config, msg, Ephemeral::Random)
}

/// [`encapsulate_request`] with an explicit ephemeral key source (tests and vectors).
pub fn encapsulate_request_with(
    config: &KeyConfig,
    msg: &[u8],
    ephemeral: Ephemeral<'_>,
) -> Result<(Vec<u8>, ClientContext), Error> {
    let (mut out, mut sender, context) = setup_client(config, Form::Plain, ephemeral)?;
    out.reserve(msg.len() + 16);
    out.extend_from_slice(&sender.seal(b"", msg)?);
    Ok((out, context))
}

/// HPKE sender setup: returns `hdr || enc`, the sender context and the response context.
pub(crate) fn setup_client(
    config: &KeyConfig,
    form: Form,
    ephemeral: Ephemeral<'_>,
) -> Result<(Vec<u8>, SenderContext, ClientContext), Error> {
    let first = config
        .symmetric()
        .first()
        .ok_or(Error::KeyConfig("no symmetric algorithms"))?;
    let header = RequestHeader {
        key_id: config.key_id(),
        suite: Suite::new(config.kem(), first.kdf, first.aead),
    };
    let info = header.info(form.request_label());
    let (enc, sender) = match ephemeral {
        Ephemeral::Random => header.suite.setup_base_sender(config.public_key(), &info)?,
        Ephemeral::Ikm(ikm) => {
            let opts = SenderOptions {
                ikm_e: Some(ikm),
                ..SenderOptions::default()
            };
            header
                .suite
                .setup_sender(config.public_key(), &info, &opts)?
        }
        Ephemeral::SecretKey(sk) => {
            let sk_e = SecretKey::from_bytes(config.kem(), sk)
                .map_err(|_| Error::InvalidKey("ephemeral secret key"))?;
            header
                .suite
                .setup_base_sender_with_ephemeral(config.public_key(), &info, &sk_e)?
        }
    };
    let secret = ResponseSecret::new(header.suite, enc.clone(), form, |label, len| {
        sender.export(label, len)
    })?;
    let mut out = Vec::with_capacity(HEADER_LEN + enc.len());
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(&enc);
    Ok((out, sender, ClientContext(secret)))
}
