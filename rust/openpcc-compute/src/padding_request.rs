//! How a client asks for length-hiding token streams (`docs/token-stream-padding.md`).
//!
//! Our client puts `X-Openpcc-Padding: fixed` among the header fields of the *encrypted* inner request, so
//! the router never sees it and no request body (which the engine reads) carries it. The node takes the field
//! off before its engine sees the request ([`take_padding_request`]) and pads only when asked: a reference
//! client, which does not ask, gets what the reference node sends ([`Padding::PerPiece`]), because it would
//! decode our filler as body bytes.

use crate::stream::Padding;
use crate::Error;

/// The header field a client asks for filler with (BHTTP carries field names in lower case).
pub const PADDING_HEADER: &str = "x-openpcc-padding";
/// The one value defined: fixed-size chunks with filler ([`Padding::Fixed`] with its defaults).
pub const PADDING_FIXED: &str = "fixed";

/// The header field our client adds to every inner compute request.
#[must_use]
pub fn padding_request_field() -> (Vec<u8>, Vec<u8>) {
    (
        PADDING_HEADER.as_bytes().to_vec(),
        PADDING_FIXED.as_bytes().to_vec(),
    )
}

/// Node side: removes every `X-Openpcc-Padding` field from `headers` (names compared without regard to case)
/// and returns the token-stream padding to answer with: [`Padding::default`] (fixed) when the client asked
/// for `fixed`, [`Padding::PerPiece`] (what the reference sends) when it did not ask.
///
/// A value other than `fixed` (ASCII case and surrounding spaces ignored) is [`Error::Malformed`] and
/// leaves `headers` unchanged: the node answers 400 rather than guess.
pub fn take_padding_request(headers: &mut Vec<(Vec<u8>, Vec<u8>)>) -> Result<Padding, Error> {
    let mut asked = false;
    for (name, value) in headers.iter() {
        if name.eq_ignore_ascii_case(PADDING_HEADER.as_bytes()) {
            if !value
                .trim_ascii()
                .eq_ignore_ascii_case(PADDING_FIXED.as_bytes())
            {
                return Err(Error::Malformed(
                    "x-openpcc-padding value (only 'fixed' is defined)",
                ));
            }
            asked = true;
        }
    }
    if !asked {
        return Ok(Padding::PerPiece);
    }
    headers.retain(|(name, _)| !name.eq_ignore_ascii_case(PADDING_HEADER.as_bytes()));
    Ok(Padding::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(list: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        list.iter()
            .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn asked_for_fixed_strips_every_instance() {
        let mut h = fields(&[
            ("content-type", "application/json"),
            ("X-Openpcc-Padding", " Fixed "),
            ("x-openpcc-padding", "fixed"),
        ]);
        assert_eq!(take_padding_request(&mut h), Ok(Padding::default()));
        assert_eq!(h, fields(&[("content-type", "application/json")]));
    }

    #[test]
    fn not_asked_means_the_reference_chunking() {
        let mut h = fields(&[("content-type", "application/json")]);
        assert_eq!(take_padding_request(&mut h), Ok(Padding::PerPiece));
        assert_eq!(h, fields(&[("content-type", "application/json")]));
    }

    #[test]
    fn unknown_value_is_refused_and_nothing_changes() {
        let before = fields(&[
            ("x-openpcc-padding", "fixed"),
            ("x-openpcc-padding", "tiny"),
        ]);
        let mut h = before.clone();
        assert!(matches!(
            take_padding_request(&mut h),
            Err(Error::Malformed(_))
        ));
        assert_eq!(h, before);
    }

    #[test]
    fn the_client_field_is_what_the_node_recognises() {
        let mut h = vec![padding_request_field()];
        assert_eq!(take_padding_request(&mut h), Ok(Padding::default()));
        assert!(h.is_empty());
    }
}
