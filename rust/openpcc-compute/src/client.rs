//! The client's view of one compute request: the sealed body, one encapsulated key and context per
//! candidate, and the matching of the router's `X-Node-ID` to the right context (spec §4.2, §5.2).

use prost::Message;

use crate::media::Framing;
use crate::proto::{ComputeCandidate, ComputeRequestInfo};
use crate::request::{ClientContext, SealedRequest};
use crate::response::ResponseOpener;
use crate::Error;

/// A compute request sealed for a set of candidate nodes.
#[derive(Debug)]
pub struct ComputeRequest {
    sealed: SealedRequest,
    candidates: Vec<Candidate>,
}

#[derive(Debug)]
struct Candidate {
    id: String,
    encapsulated_key: Vec<u8>,
    ctx: ClientContext,
}

impl ComputeRequest {
    /// Seals `plaintext` once and wraps its key for each `(node id, request-encryption public key)`.
    pub fn seal<'a>(
        framing: Framing,
        plaintext: &[u8],
        candidates: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<Self, Error> {
        let sealed = SealedRequest::seal(framing, plaintext)?;
        Self::for_candidates(sealed, candidates, SealedRequest::encapsulate_key)
    }

    /// Wraps the key of an already sealed body; `encapsulate` is the per-candidate wrapping (test seams pass
    /// a deterministic one).
    pub fn for_candidates<'a, F>(
        sealed: SealedRequest,
        candidates: impl IntoIterator<Item = (&'a str, &'a [u8])>,
        mut encapsulate: F,
    ) -> Result<Self, Error>
    where
        F: FnMut(&SealedRequest, &[u8]) -> Result<(Vec<u8>, ClientContext), Error>,
    {
        let mut out = Vec::new();
        for (id, pk) in candidates {
            if out.iter().any(|c: &Candidate| c.id == id) {
                return Err(Error::InvalidArgument("duplicate candidate id"));
            }
            let (encapsulated_key, ctx) = encapsulate(&sealed, pk)?;
            out.push(Candidate {
                id: id.to_owned(),
                encapsulated_key,
                ctx,
            });
        }
        if out.is_empty() {
            return Err(Error::InvalidArgument("at least one candidate is required"));
        }
        Ok(Self {
            sealed,
            candidates: out,
        })
    }

    /// The request media type.
    #[must_use]
    pub fn media_type(&self) -> &'static str {
        self.sealed.media_type()
    }

    /// The sealed body.
    #[must_use]
    pub fn body(&self) -> &[u8] {
        self.sealed.body()
    }

    /// `(node id, encapsulated key)` per candidate, in the order given.
    pub fn encapsulated_keys(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.candidates
            .iter()
            .map(|c| (c.id.as_str(), c.encapsulated_key.as_slice()))
    }

    /// The `ComputeRequestInfo` protobuf of the `X-Routing-Info` header (before base64).
    #[must_use]
    pub fn routing_info(&self) -> Vec<u8> {
        let info = ComputeRequestInfo {
            candidates: self
                .candidates
                .iter()
                .map(|c| ComputeCandidate {
                    id: Some(c.id.clone()),
                    encapsulated_key: Some(c.encapsulated_key.clone()),
                    ..Default::default()
                })
                .collect(),
        };
        info.encode_to_vec()
    }

    /// The opener for the response of the node the router chose (its `X-Node-ID`). A node that was not a
    /// candidate is [`Error::UnknownNode`], never a silent fallback to another context.
    pub fn response_opener(
        &self,
        node_id: &str,
        response_media_type: &str,
    ) -> Result<ResponseOpener, Error> {
        let candidate = self
            .candidates
            .iter()
            .find(|c| c.id == node_id)
            .ok_or(Error::UnknownNode)?;
        candidate.ctx.response_opener(response_media_type)
    }
}
