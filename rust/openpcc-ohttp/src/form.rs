//! The two encapsulation forms, their HPKE labels and their media types.

use crate::Error;

/// `Content-Type` of a plain encapsulated request (RFC 9458 §9.2).
pub const REQUEST_MEDIA_TYPE: &str = "message/ohttp-req";
/// `Content-Type` of a plain encapsulated response (RFC 9458 §9.3).
pub const RESPONSE_MEDIA_TYPE: &str = "message/ohttp-res";
/// `Content-Type` of a chunked encapsulated request (draft-ietf-ohai-chunked-ohttp).
pub const CHUNKED_REQUEST_MEDIA_TYPE: &str = "message/ohttp-chunked-req";
/// `Content-Type` of a chunked encapsulated response (draft-ietf-ohai-chunked-ohttp).
pub const CHUNKED_RESPONSE_MEDIA_TYPE: &str = "message/ohttp-chunked-res";

/// How one message (a request or a response) is encapsulated. A response may take either form
/// whatever the form of its request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Form {
    /// RFC 9458: one AEAD seal of the whole message.
    Plain,
    /// draft-ietf-ohai-chunked-ohttp: a stream of sealed chunks ending with a final chunk.
    Chunked,
}

impl Form {
    /// Prefix of the request's HPKE `info` (`label || 0x00 || hdr`).
    #[must_use]
    pub const fn request_label(self) -> &'static [u8] {
        match self {
            Self::Plain => b"message/bhttp request",
            Self::Chunked => b"message/bhttp chunked request",
        }
    }

    /// Exporter context of the response secret (spec §2.4, §2.5).
    #[must_use]
    pub const fn response_label(self) -> &'static [u8] {
        match self {
            Self::Plain => b"message/bhttp response",
            Self::Chunked => b"message/bhttp chunked response",
        }
    }

    /// The outer request's `Content-Type`.
    #[must_use]
    pub const fn request_media_type(self) -> &'static str {
        match self {
            Self::Plain => REQUEST_MEDIA_TYPE,
            Self::Chunked => CHUNKED_REQUEST_MEDIA_TYPE,
        }
    }

    /// The outer response's `Content-Type`.
    #[must_use]
    pub const fn response_media_type(self) -> &'static str {
        match self {
            Self::Plain => RESPONSE_MEDIA_TYPE,
            Self::Chunked => CHUNKED_RESPONSE_MEDIA_TYPE,
        }
    }

    /// The form of a request from its `Content-Type` (case-insensitive, surrounding spaces ignored,
    /// no parameters); anything else is [`Error::MediaType`].
    pub fn from_request_media_type(content_type: &str) -> Result<Self, Error> {
        Self::from_media_type(content_type, REQUEST_MEDIA_TYPE, CHUNKED_REQUEST_MEDIA_TYPE)
            .ok_or(Error::MediaType("not an OHTTP request media type"))
    }

    /// The form of a response from its `Content-Type`, as the reference client picks its opener.
    pub fn from_response_media_type(content_type: &str) -> Result<Self, Error> {
        Self::from_media_type(
            content_type,
            RESPONSE_MEDIA_TYPE,
            CHUNKED_RESPONSE_MEDIA_TYPE,
        )
        .ok_or(Error::MediaType("not an OHTTP response media type"))
    }

    fn from_media_type(content_type: &str, plain: &str, chunked: &str) -> Option<Self> {
        let value = content_type.trim_matches([' ', '\t']);
        if value.eq_ignore_ascii_case(plain) {
            Some(Self::Plain)
        } else if value.eq_ignore_ascii_case(chunked) {
            Some(Self::Chunked)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_map_to_forms() {
        for form in [Form::Plain, Form::Chunked] {
            assert_eq!(
                Form::from_request_media_type(form.request_media_type()).unwrap(),
                form
            );
            assert_eq!(
                Form::from_response_media_type(form.response_media_type()).unwrap(),
                form
            );
        }
        assert_eq!(
            Form::from_response_media_type(" Message/OHTTP-Chunked-Res ").unwrap(),
            Form::Chunked
        );
        for bad in [
            "",
            "message/ohttp-req",
            "message/ohttp-res; charset=utf-8",
            "application/octet-stream",
        ] {
            assert!(
                matches!(
                    Form::from_response_media_type(bad),
                    Err(Error::MediaType(_))
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            Form::from_request_media_type(RESPONSE_MEDIA_TYPE),
            Err(Error::MediaType(_))
        ));
    }
}
