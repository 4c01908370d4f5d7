//! Openers and sealers of either [`Form`], for servers and clients that learn the form from a
//! `Content-Type` (or pick it) and want one incremental interface.
//!
//! * Gateway: [`RequestOpener::for_media_type`] opens the request; its
//!   [`response_context`](RequestOpener::response_context) answers through a [`ResponseSealer`] of
//!   the form the caller picks (the reference picks chunked when the inner response streams or
//!   announces trailers). Send it with [`ResponseSealer::media_type`].
//! * Client: [`ResponseOpener::for_media_type`] opens the response the response's `Content-Type`
//!   names, whatever the form of the request was.
//!
//! The plain form is one AEAD seal, so its opener and sealer buffer the whole message until
//! `finish` (bound the body size upstream); the chunked form streams chunk by chunk.

use crate::chunked::{
    ChunkedRequestOpener, ChunkedResponseOpener, ChunkedResponseSealer, SealerOptions,
};
use crate::header::HEADER_LEN;
use crate::{ClientContext, Error, Form, GatewayKey, ResponseContext};

/// A plain message being collected: `None` once finished or failed.
struct Buffer(Option<Vec<u8>>);

impl Buffer {
    fn new() -> Self {
        Self(Some(Vec::new()))
    }

    fn extend(&mut self, data: &[u8]) -> Result<&[u8], Error> {
        let buf = self
            .0
            .as_mut()
            .ok_or(Error::Usage("stream failed earlier or already finished"))?;
        buf.extend_from_slice(data);
        Ok(buf)
    }

    fn take(&mut self) -> Result<Vec<u8>, Error> {
        self.0
            .take()
            .ok_or(Error::Usage("stream failed earlier or already finished"))
    }

    fn fail(&mut self) {
        self.0 = None;
    }
}

enum RequestInner {
    Plain {
        key: GatewayKey,
        buffer: Buffer,
        response: Option<ResponseContext>,
    },
    Chunked(ChunkedRequestOpener),
}

/// Gateway: opens a request of either form as wire bytes arrive.
pub struct RequestOpener(RequestInner);

impl RequestOpener {
    /// An opener for a request of `form`; `max_chunk_len` bounds chunk plaintexts (chunked form only;
    /// see [`ChunkedRequestOpener::new`]).
    #[must_use]
    pub fn new(key: GatewayKey, form: Form, max_chunk_len: usize) -> Self {
        Self(match form {
            Form::Plain => RequestInner::Plain {
                key,
                buffer: Buffer::new(),
                response: None,
            },
            Form::Chunked => RequestInner::Chunked(ChunkedRequestOpener::new(key, max_chunk_len)),
        })
    }

    /// An opener for the form the request's `Content-Type` names (`message/ohttp-req` or
    /// `message/ohttp-chunked-req`); any other is [`Error::MediaType`].
    pub fn for_media_type(
        key: GatewayKey,
        content_type: &str,
        max_chunk_len: usize,
    ) -> Result<Self, Error> {
        Ok(Self::new(
            key,
            Form::from_request_media_type(content_type)?,
            max_chunk_len,
        ))
    }

    /// The request's form.
    #[must_use]
    pub fn form(&self) -> Form {
        match self.0 {
            RequestInner::Plain { .. } => Form::Plain,
            RequestInner::Chunked(_) => Form::Chunked,
        }
    }

    /// Chunked: appends the plaintext of every chunk `data` completes. Plain: collects `data` (nothing
    /// is appended until [`finish`](Self::finish)). Both judge the header (key id, suite) as soon as
    /// its 7 bytes have arrived.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<Vec<u8>>) -> Result<(), Error> {
        match &mut self.0 {
            RequestInner::Chunked(opener) => opener.push(data, out),
            RequestInner::Plain { key, buffer, .. } => {
                let had_header = buffer.0.as_ref().is_some_and(|b| b.len() >= HEADER_LEN);
                let buf = buffer.extend(data)?;
                let checked = match (had_header, buf.get(..HEADER_LEN)) {
                    (false, Some(header)) => key.check_header(header).map(|_| ()),
                    _ => Ok(()),
                };
                checked.inspect_err(|_| buffer.fail())
            }
        }
    }

    /// End of the request. Chunked: the final chunk's plaintext (or [`Error::Truncated`]). Plain: the
    /// whole decapsulated request.
    pub fn finish(&mut self) -> Result<Vec<u8>, Error> {
        match &mut self.0 {
            RequestInner::Chunked(opener) => opener.finish(),
            RequestInner::Plain {
                key,
                buffer,
                response,
            } => {
                let (msg, context) = key.decapsulate_request(&buffer.take()?)?;
                *response = Some(context);
                Ok(msg)
            }
        }
    }

    /// The context answering the request in either form: for a chunked request once its header and
    /// enc have been read, for a plain one after a successful [`finish`](Self::finish).
    #[must_use]
    pub fn response_context(&self) -> Option<&ResponseContext> {
        match &self.0 {
            RequestInner::Chunked(opener) => opener.response_context(),
            RequestInner::Plain { response, .. } => response.as_ref(),
        }
    }
}

enum SealerInner {
    Plain {
        context: ResponseContext,
        nonce: Vec<u8>,
        buffer: Buffer,
    },
    Chunked(ChunkedResponseSealer),
}

/// Gateway: seals a response in the form the caller picks, to a request of either form.
pub struct ResponseSealer(SealerInner);

impl ResponseSealer {
    /// A sealer of `form` with a random response nonce, or the given one (test vectors only).
    /// `options` cut the chunks of the chunked form.
    pub fn new(
        context: &ResponseContext,
        form: Form,
        options: SealerOptions,
        response_nonce: Option<&[u8]>,
    ) -> Result<Self, Error> {
        Ok(Self(match form {
            Form::Plain => {
                let nonce = context.0.nonce_or_random(response_nonce)?;
                SealerInner::Plain {
                    context: context.clone(),
                    nonce,
                    buffer: Buffer::new(),
                }
            }
            Form::Chunked => SealerInner::Chunked(ChunkedResponseSealer::new(
                context,
                options,
                response_nonce,
            )?),
        }))
    }

    /// The response's form.
    #[must_use]
    pub fn form(&self) -> Form {
        match self.0 {
            SealerInner::Plain { .. } => Form::Plain,
            SealerInner::Chunked(_) => Form::Chunked,
        }
    }

    /// The outer response's `Content-Type`.
    #[must_use]
    pub fn media_type(&self) -> &'static str {
        self.form().response_media_type()
    }

    /// Chunked: appends the wire pieces `pt` completes (the nonce first). Plain: collects `pt`.
    pub fn push(&mut self, pt: &[u8], out: &mut Vec<Vec<u8>>) -> Result<(), Error> {
        match &mut self.0 {
            SealerInner::Chunked(sealer) => sealer.push(pt, out),
            SealerInner::Plain { buffer, .. } => buffer.extend(pt).map(|_| ()),
        }
    }

    /// Chunked: the padded tail and the final chunk. Plain: the whole `nonce || ct` as one piece.
    pub fn finish(&mut self, out: &mut Vec<Vec<u8>>) -> Result<(), Error> {
        match &mut self.0 {
            SealerInner::Chunked(sealer) => sealer.finish(out),
            SealerInner::Plain {
                context,
                nonce,
                buffer,
            } => {
                out.push(context.0.seal(&buffer.take()?, nonce)?);
                Ok(())
            }
        }
    }
}

enum ResponseInner {
    Plain {
        context: ClientContext,
        buffer: Buffer,
    },
    Chunked(ChunkedResponseOpener),
}

/// Client: opens a response of either form, whatever the form of its request.
pub struct ResponseOpener(ResponseInner);

impl ResponseOpener {
    /// An opener for a response of `form`; `max_chunk_len` bounds chunk plaintexts (chunked form).
    #[must_use]
    pub fn new(context: ClientContext, form: Form, max_chunk_len: usize) -> Self {
        Self(match form {
            Form::Plain => ResponseInner::Plain {
                context,
                buffer: Buffer::new(),
            },
            Form::Chunked => {
                ResponseInner::Chunked(ChunkedResponseOpener::new(context, max_chunk_len))
            }
        })
    }

    /// An opener for the form the response's `Content-Type` names (`message/ohttp-res` or
    /// `message/ohttp-chunked-res`), as the reference client chooses; any other is [`Error::MediaType`].
    pub fn for_media_type(
        context: ClientContext,
        content_type: &str,
        max_chunk_len: usize,
    ) -> Result<Self, Error> {
        Ok(Self::new(
            context,
            Form::from_response_media_type(content_type)?,
            max_chunk_len,
        ))
    }

    /// The response's form.
    #[must_use]
    pub fn form(&self) -> Form {
        match self.0 {
            ResponseInner::Plain { .. } => Form::Plain,
            ResponseInner::Chunked(_) => Form::Chunked,
        }
    }

    /// Chunked: appends the plaintext of every chunk `data` completes. Plain: collects `data`.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<Vec<u8>>) -> Result<(), Error> {
        match &mut self.0 {
            ResponseInner::Chunked(opener) => opener.push(data, out),
            ResponseInner::Plain { buffer, .. } => buffer.extend(data).map(|_| ()),
        }
    }

    /// Chunked: the final chunk's plaintext (or [`Error::Truncated`]). Plain: the whole response.
    pub fn finish(&mut self) -> Result<Vec<u8>, Error> {
        match &mut self.0 {
            ResponseInner::Chunked(opener) => opener.finish(),
            ResponseInner::Plain { context, buffer } => {
                context.decapsulate_response(&buffer.take()?)
            }
        }
    }
}
