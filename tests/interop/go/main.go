// Command interop drives the Go reference (github.com/openpcc/twoway, github.com/openpcc/bhttp) for the compute
// layer, so openpcc's Rust/Python implementation can be checked byte for byte against it.
//
//	go run . vectors          print deterministic vectors (JSON) to stdout
//	go run . node   < in.json the reference as compute node: open our requests, seal responses
//	go run . client < in.json the reference as client: re-seal a request deterministically, open our responses
//	go run . encode-response < in.json  the reference node's BHTTP encoding of a streamed response, decoded
//
// All randomness comes from explicit byte strings in the input (or a SHAKE-256 stream for `vectors`), read in
// the order twoway reads it: DEK(32), body nonce(12), then one 32-byte HPKE seed per candidate; the node reads
// its 16-byte response nonce.
package main

import (
	"bytes"
	"context"
	"crypto/sha3"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/cloudflare/circl/hpke"
	"github.com/cloudflare/circl/kem"
	"github.com/openpcc/bhttp"
	"github.com/openpcc/twoway"
)

const (
	reqMediaType        = "application/confsec-req"
	chunkedReqMediaType = "application/confsec-chunked-req"
	resMediaType        = "application/confsec-res"
	chunkedResMediaType = "application/confsec-chunked-res"
	// messages/messages.go in openpcc: chunk plaintext cap and BHTTP padding for compute messages.
	computeChunkLen = 514
)

var suite = hpke.NewSuite(hpke.KEM_P256_HKDF_SHA256, hpke.KDF_HKDF_SHA256, hpke.AEAD_AES128GCM)

var kemScheme = hpke.KEM_P256_HKDF_SHA256.Scheme()

type hexBytes []byte

func (h hexBytes) MarshalJSON() ([]byte, error) { return json.Marshal(hex.EncodeToString(h)) }

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	*h = v
	return err
}

// piecesReader returns exactly one piece per Read, so the twoway sealer makes exactly one chunk per piece.
type piecesReader struct{ pieces [][]byte }

func (r *piecesReader) Read(p []byte) (int, error) {
	if len(r.pieces) == 0 {
		return 0, io.EOF
	}
	if len(p) < len(r.pieces[0]) {
		return 0, errors.New("piece larger than the read buffer")
	}
	n := copy(p, r.pieces[0])
	r.pieces = r.pieces[1:]
	return n, nil
}

// plaintextReader feeds chunked sealers piece by piece; unchunked sealers read everything at once.
func plaintextReader(pieces [][]byte, chunked bool) io.Reader {
	if chunked {
		return &piecesReader{pieces: pieces}
	}
	return bytes.NewReader(concat(pieces))
}

// recordingReader keeps each Read result of the BHTTP encoder: the reference's natural chunk boundaries.
type recordingReader struct {
	r      io.Reader
	pieces [][]byte
}

func (r *recordingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.pieces = append(r.pieces, bytes.Clone(p[:n]))
	}
	return n, err
}

func main() {
	if len(os.Args) != 2 {
		fail(errors.New("usage: interop vectors|node|client|encode-response"))
	}
	var out any
	var err error
	switch os.Args[1] {
	case "vectors":
		out, err = makeVectors()
	case "node":
		out, err = runNode(os.Stdin)
	case "client":
		out, err = runClient(os.Stdin)
	case "encode-response":
		out, err = runEncodeResponse(os.Stdin)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "interop:", err)
	os.Exit(1)
}

// ---- vectors -------------------------------------------------------------------------------------------------

type nodeKey struct {
	ID string   `json:"id"`
	SK hexBytes `json:"sk"`
	PK hexBytes `json:"pk"`
}

type requestVector struct {
	Name       string           `json:"name"`
	MediaType  string           `json:"media_type"`
	Chunks     []hexBytes       `json:"chunks"` // plaintext pieces; a single piece when unchunked
	Candidates []int            `json:"candidates"`
	Rng        hexBytes         `json:"rng"` // exact bytes the sender read, in order
	DEK        hexBytes         `json:"dek"`
	BodyNonce  hexBytes         `json:"body_nonce"`
	IkmE       []hexBytes       `json:"ikm_e"`
	Body       hexBytes         `json:"body"`
	EncapKeys  []hexBytes       `json:"encapsulated_keys"`
	Responses  []responseVector `json:"responses"`
}

type responseVector struct {
	Candidate     int        `json:"candidate"` // index into the request's candidates
	MediaType     string     `json:"media_type"`
	Chunks        []hexBytes `json:"chunks"`
	ResponseNonce hexBytes   `json:"response_nonce"`
	Body          hexBytes   `json:"body"`
}

type vectorFile struct {
	Comment  string          `json:"comment"`
	Suite    [3]uint16       `json:"suite"`
	RngSeed  string          `json:"rng_seed"`
	Nodes    []nodeKey       `json:"nodes"`
	Requests []requestVector `json:"requests"`
}

func makeVectors() (*vectorFile, error) {
	rng := sha3.NewSHAKE256()
	const seed = "openpcc compute interop vectors v1"
	rng.Write([]byte(seed))

	nodes, err := makeNodes(3)
	if err != nil {
		return nil, err
	}
	known, err := encodeRequest(false)
	if err != nil {
		return nil, err
	}
	indet, err := encodeRequest(true)
	if err != nil {
		return nil, err
	}
	exact := splitPieces(concat(indet), computeChunkLen)
	resp, err := encodeResponse()
	if err != nil {
		return nil, err
	}

	cases := []struct {
		name       string
		media      string
		chunks     [][]byte
		candidates []int
	}{
		{"unchunked-1", reqMediaType, [][]byte{concat(known)}, []int{0}},
		{"unchunked-3", reqMediaType, [][]byte{concat(known)}, []int{0, 1, 2}},
		{"chunked-exact-1", chunkedReqMediaType, exact, []int{1}},
		{"chunked-exact-3", chunkedReqMediaType, exact, []int{2, 0, 1}},
		{"chunked-natural-3", chunkedReqMediaType, indet, []int{0, 1, 2}},
	}
	vf := &vectorFile{
		Comment: "Generated by tests/interop/go (go run . vectors) against github.com/openpcc/twoway and bhttp; " +
			"see tests/interop/README.md.",
		Suite:   [3]uint16{0x0010, 0x0001, 0x0001},
		RngSeed: seed,
		Nodes:   nodes,
	}
	for _, c := range cases {
		v, err := sealVector(rng, nodes, c.name, c.media, c.chunks, c.candidates)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		if err := addResponses(rng, nodes, v, resp); err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		vf.Requests = append(vf.Requests, *v)
	}
	return vf, nil
}

func makeNodes(n int) ([]nodeKey, error) {
	ids := []string{
		"01936e5a-0000-7000-8000-000000000001",
		"01936e5a-0000-7000-8000-000000000002",
		"01936e5a-0000-7000-8000-000000000003",
	}
	var out []nodeKey
	for i := 0; i < n; i++ {
		ikm := bytes.Repeat([]byte{byte(0xa0 + i)}, 32)
		pk, sk := kemScheme.DeriveKeyPair(ikm)
		skB, err := sk.MarshalBinary()
		if err != nil {
			return nil, err
		}
		pkB, err := pk.MarshalBinary()
		if err != nil {
			return nil, err
		}
		out = append(out, nodeKey{ID: ids[i], SK: skB, PK: pkB})
	}
	return out, nil
}

// encodeRequest makes the inner compute request exactly as openpcc's messages package does: BHTTP padded to a
// multiple of 514 with 514-byte content chunks. It returns the encoder's reads (its natural chunk boundaries).
func encodeRequest(indeterminate bool) ([][]byte, error) {
	body := `{"model":"llama3.2:1b","prompt":"Why is the sky blue?","stream":true}`
	hr, err := http.NewRequest(http.MethodPost, "http://confsec.invalid/api/generate", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("X-Confsec-Node-Tags", "llm,model=llama3.2:1b")
	var enc *bhttp.RequestEncoder
	if indeterminate {
		enc = bhttp.NewIndeterminateLengthRequestEncoder()
	} else {
		enc = bhttp.NewKnownLengthRequestEncoder()
	}
	enc.PadToMultipleOf = computeChunkLen
	enc.MaxEncodedChunkLen = computeChunkLen
	msg, err := enc.EncodeRequest(hr)
	if err != nil {
		return nil, err
	}
	return readPieces(msg, computeChunkLen)
}

func encodeResponse() ([][]byte, error) {
	hr := &http.Response{
		StatusCode: http.StatusOK,
		ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/x-ndjson"}},
		Body:          io.NopCloser(strings.NewReader("{\"response\":\"Rayleigh\"}\n{\"response\":\" scattering\"}\n")),
		ContentLength: -1,
	}
	enc := bhttp.NewIndeterminateLengthResponseEncoder()
	enc.PadToMultipleOf = computeChunkLen
	enc.MaxEncodedChunkLen = computeChunkLen
	msg, err := enc.EncodeResponse(hr)
	if err != nil {
		return nil, err
	}
	return readPieces(msg, computeChunkLen)
}

func readPieces(r io.Reader, bufLen int) ([][]byte, error) {
	rec := &recordingReader{r: r}
	buf := make([]byte, bufLen)
	for {
		_, err := rec.Read(buf)
		if errors.Is(err, io.EOF) {
			return rec.pieces, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func concat(pieces [][]byte) []byte { return bytes.Join(pieces, nil) }

func splitPieces(b []byte, n int) [][]byte {
	var out [][]byte
	for len(b) > n {
		out = append(out, b[:n])
		b = b[n:]
	}
	if len(b) > 0 {
		out = append(out, b)
	}
	return out
}

// teeReader records the bytes twoway reads from the RNG.
type teeReader struct {
	r   io.Reader
	got []byte
}

func (t *teeReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.got = append(t.got, p[:n]...)
	return n, err
}

func sealVector(rng io.Reader, nodes []nodeKey, name, media string, chunks [][]byte, candidates []int) (*requestVector, error) {
	tee := &teeReader{r: rng}
	body, encKeys, _, err := sealRequest(tee, nodes, media, chunks, candidates)
	if err != nil {
		return nil, err
	}
	got := tee.got
	v := &requestVector{
		Name: name, MediaType: media, Candidates: candidates, Rng: got,
		DEK: got[:32], BodyNonce: got[32:44], Body: body, EncapKeys: encKeys,
	}
	for i := range candidates {
		v.IkmE = append(v.IkmE, got[44+32*i:76+32*i])
	}
	for _, c := range chunks {
		v.Chunks = append(v.Chunks, c)
	}
	return v, nil
}

// sealRequest is the client side of the reference: one sealer, one EncapsulateKey per candidate.
func sealRequest(rng io.Reader, nodes []nodeKey, media string, chunks [][]byte, candidates []int) (
	[]byte, []hexBytes, []twoway.ResponseOpenerFunc, error,
) {
	sender := twoway.NewMultiRequestSender(suite, rng)
	var opts []twoway.Option
	if media == chunkedReqMediaType {
		opts = append(opts, twoway.EnableChunking(), twoway.WithMaxChunkPlaintextLen(computeChunkLen))
	}
	var pieces [][]byte
	for _, c := range chunks {
		pieces = append(pieces, c)
	}
	sealer, err := sender.NewRequestSealer(plaintextReader(pieces, media == chunkedReqMediaType), []byte(media), opts...)
	if err != nil {
		return nil, nil, nil, err
	}
	var encKeys []hexBytes
	var openers []twoway.ResponseOpenerFunc
	for _, idx := range candidates {
		pk, err := kemScheme.UnmarshalBinaryPublicKey(nodes[idx].PK)
		if err != nil {
			return nil, nil, nil, err
		}
		ek, opener, err := sealer.EncapsulateKey(0, pk)
		if err != nil {
			return nil, nil, nil, err
		}
		encKeys = append(encKeys, ek)
		openers = append(openers, opener)
	}
	body, err := io.ReadAll(sealer)
	if err != nil {
		return nil, nil, nil, err
	}
	return body, encKeys, openers, nil
}

func addResponses(rng io.Reader, nodes []nodeKey, v *requestVector, resp [][]byte) error {
	for ci, idx := range v.Candidates {
		sk, err := privateKey(nodes[idx].SK)
		if err != nil {
			return err
		}
		for _, chunked := range []bool{false, true} {
			nonce := make([]byte, 16)
			if _, err := io.ReadFull(rng, nonce); err != nil {
				return err
			}
			media := resMediaType
			chunks := [][]byte{concat(resp)}
			if chunked {
				media, chunks = chunkedResMediaType, resp
			}
			_, body, err := nodeRoundTrip(sk, v.MediaType, v.EncapKeys[ci], v.Body, media, chunks, nonce)
			if err != nil {
				return err
			}
			rv := responseVector{Candidate: ci, MediaType: media, ResponseNonce: nonce, Body: body}
			for _, c := range chunks {
				rv.Chunks = append(rv.Chunks, c)
			}
			v.Responses = append(v.Responses, rv)
		}
	}
	return nil
}

func privateKey(b []byte) (kem.PrivateKey, error) {
	return kemScheme.UnmarshalBinaryPrivateKey(b)
}

// nodeRoundTrip is the node side of the reference: open the request, then seal a response.
func nodeRoundTrip(sk kem.PrivateKey, reqMedia string, encKey, body []byte, resMedia string, resChunks [][]byte,
	resNonce []byte) ([]byte, []byte, error) {
	recv, err := twoway.NewMultiRequestReceiver(suite, 0, sk, bytes.NewReader(resNonce))
	if err != nil {
		return nil, nil, err
	}
	var opts []twoway.Option
	if reqMedia == chunkedReqMediaType {
		opts = append(opts, twoway.EnableChunking(), twoway.WithMaxChunkPlaintextLen(computeChunkLen),
			twoway.WithInitialChunkBufferLen(computeChunkLen))
	} else if reqMedia != reqMediaType {
		return nil, nil, fmt.Errorf("unknown request media type %q", reqMedia)
	}
	opener, err := recv.NewRequestOpener(encKey, bytes.NewReader(body), []byte(reqMedia), opts...)
	if err != nil {
		return nil, nil, err
	}
	pt, err := io.ReadAll(opener)
	if err != nil {
		return nil, nil, err
	}
	var sopts []twoway.Option
	if resMedia == chunkedResMediaType {
		sopts = append(sopts, twoway.EnableChunking(), twoway.WithMaxChunkPlaintextLen(computeChunkLen))
	}
	sealer, err := opener.NewResponseSealer(plaintextReader(resChunks, resMedia == chunkedResMediaType), []byte(resMedia), sopts...)
	if err != nil {
		return nil, nil, err
	}
	resBody, err := io.ReadAll(sealer)
	if err != nil {
		return nil, nil, err
	}
	return pt, resBody, nil
}

// ---- live modes ----------------------------------------------------------------------------------------------

type nodeInput struct {
	NodeSK   hexBytes `json:"node_sk"`
	Requests []struct {
		MediaType string   `json:"media_type"`
		EncapKey  hexBytes `json:"encapsulated_key"`
		Body      hexBytes `json:"body"`
		Response  struct {
			MediaType string     `json:"media_type"`
			Chunks    []hexBytes `json:"chunks"`
			Nonce     hexBytes   `json:"nonce"`
		} `json:"response"`
	} `json:"requests"`
}

type nodeResult struct {
	Error            string   `json:"error,omitempty"`
	RequestPlaintext hexBytes `json:"request_plaintext"`
	ResponseBody     hexBytes `json:"response_body"`
}

func runNode(in io.Reader) ([]nodeResult, error) {
	var inp nodeInput
	if err := json.NewDecoder(in).Decode(&inp); err != nil {
		return nil, err
	}
	sk, err := privateKey(inp.NodeSK)
	if err != nil {
		return nil, err
	}
	var out []nodeResult
	for _, r := range inp.Requests {
		var chunks [][]byte
		for _, c := range r.Response.Chunks {
			chunks = append(chunks, c)
		}
		pt, body, err := nodeRoundTrip(sk, r.MediaType, r.EncapKey, r.Body, r.Response.MediaType, chunks, r.Response.Nonce)
		if err != nil {
			out = append(out, nodeResult{Error: err.Error()})
			continue
		}
		out = append(out, nodeResult{RequestPlaintext: pt, ResponseBody: body})
	}
	return out, nil
}

type clientInput struct {
	Nodes      []nodeKey  `json:"nodes"`
	MediaType  string     `json:"media_type"`
	Chunks     []hexBytes `json:"chunks"`
	Candidates []int      `json:"candidates"`
	Rng        hexBytes   `json:"rng"`
	Responses  []struct {
		Candidate int      `json:"candidate"`
		MediaType string   `json:"media_type"`
		Body      hexBytes `json:"body"`
		// OuterTrailer is the node's plaintext X-Refund-Amount trailer, read as the router reads it.
		OuterTrailer *string `json:"outer_trailer,omitempty"`
	} `json:"responses"`
}

type clientResult struct {
	Error     string              `json:"error,omitempty"`
	Plaintext hexBytes            `json:"plaintext"`
	Status    int                 `json:"status,omitempty"`
	Header    map[string][]string `json:"header,omitempty"`
	Body      string              `json:"body,omitempty"`
	Trailer   map[string][]string `json:"trailer,omitempty"`
	// Refund is the amount the router would credit from the outer X-Refund-Amount trailer.
	Refund *uint64 `json:"refund_amount,omitempty"`
}

// runClient re-seals the request from the same RNG bytes (so it holds the same HPKE contexts as the vectors),
// then opens each response body and decodes its plaintext with the reference BHTTP decoder.
func runClient(in io.Reader) (*struct {
	Body      hexBytes       `json:"body"`
	EncapKeys []hexBytes     `json:"encapsulated_keys"`
	Results   []clientResult `json:"results"`
}, error) {
	var inp clientInput
	if err := json.NewDecoder(in).Decode(&inp); err != nil {
		return nil, err
	}
	var chunks [][]byte
	for _, c := range inp.Chunks {
		chunks = append(chunks, c)
	}
	body, encKeys, openers, err := sealRequest(bytes.NewReader(inp.Rng), inp.Nodes, inp.MediaType, chunks, inp.Candidates)
	if err != nil {
		return nil, err
	}
	out := &struct {
		Body      hexBytes       `json:"body"`
		EncapKeys []hexBytes     `json:"encapsulated_keys"`
		Results   []clientResult `json:"results"`
	}{Body: body, EncapKeys: encKeys}
	for _, r := range inp.Responses {
		res := openResponse(openers, r.Candidate, r.MediaType, r.Body)
		if r.OuterTrailer != nil && res.Error == "" {
			amount, err := refundAmount(*r.OuterTrailer)
			if err != nil {
				res.Error = "refund trailer: " + err.Error()
			} else {
				res.Refund = &amount
			}
		}
		out.Results = append(out.Results, res)
	}
	return out, nil
}

func openResponse(openers []twoway.ResponseOpenerFunc, candidate int, media string, body []byte) clientResult {
	if candidate < 0 || candidate >= len(openers) {
		return clientResult{Error: "no such candidate"}
	}
	var opts []twoway.Option
	if media == chunkedResMediaType {
		opts = append(opts, twoway.EnableChunking(), twoway.WithMaxChunkPlaintextLen(computeChunkLen),
			twoway.WithInitialChunkBufferLen(computeChunkLen))
	}
	r, err := openers[candidate](bytes.NewReader(body), []byte(media), opts...)
	if err != nil {
		return clientResult{Error: err.Error()}
	}
	if r == nil {
		return clientResult{Error: "response opener is nil"}
	}
	pt, err := io.ReadAll(r)
	if err != nil {
		return clientResult{Error: err.Error()}
	}
	return decodeResponse(pt)
}

// decodeResponse is the reference client's BHTTP decoding of a compute response plaintext.
func decodeResponse(pt []byte) clientResult {
	res := clientResult{Plaintext: pt}
	dec := &bhttp.ResponseDecoder{}
	hr, err := dec.DecodeResponse(context.Background(), bytes.NewReader(pt))
	if err != nil {
		res.Error = "bhttp: " + err.Error()
		return res
	}
	b, err := io.ReadAll(hr.Body)
	if err != nil {
		res.Error = "bhttp body: " + err.Error()
		return res
	}
	res.Status, res.Header, res.Body, res.Trailer = hr.StatusCode, hr.Header, string(b), hr.Trailer
	return res
}

// refundAmount reads an X-Refund-Amount trailer value as the router does (spec §5.3): empty means no refund,
// otherwise b64(Currency proto{1: 2 blind bytes}), whose amount follows spec §8.1. The openpcc module is not a
// dependency of this harness, so the few lines of currency decoding are written here from the spec.
func refundAmount(value string) (uint64, error) {
	if value == "" {
		return 0, nil
	}
	raw, err := base64.StdEncoding.DecodeString(value)
	if err != nil {
		return 0, err
	}
	if len(raw) != 4 || raw[0] != 0x0a || raw[1] != 2 {
		return 0, fmt.Errorf("not a Currency message with 2 blind bytes: %x", raw)
	}
	if raw[2] > 3 || raw[2]&1 == 1 {
		return 0, fmt.Errorf("special or invalid currency value %x", raw[2:])
	}
	v := uint64(raw[2]>>1)<<8 | uint64(raw[3])
	exp, mant := v>>4, v&0xf
	if exp == 0 {
		return mant, nil
	}
	return (mant | 0x10) << (exp - 1), nil
}

type encodeResponseInput struct {
	Status   int         `json:"status"`
	Headers  [][2]string `json:"headers"`
	Pieces   []hexBytes  `json:"pieces"` // body, one Read per piece (a token per line, as an LLM streams)
	Trailers [][2]string `json:"trailers"`
}

// runEncodeResponse is what the reference node itself would send for a streamed engine response: its BHTTP
// encoder (indeterminate length, 514-byte chunks, padded to 514) over an http.Response whose body yields
// one piece per Read, with its trailers pre-declared; then the reference decoder's view of those bytes.
func runEncodeResponse(in io.Reader) (clientResult, error) {
	var inp encodeResponseInput
	if err := json.NewDecoder(in).Decode(&inp); err != nil {
		return clientResult{}, err
	}
	hr := &http.Response{
		StatusCode: inp.Status, ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, ContentLength: -1,
	}
	for _, h := range inp.Headers {
		hr.Header.Add(h[0], h[1])
	}
	var pieces [][]byte
	for _, p := range inp.Pieces {
		pieces = append(pieces, p)
	}
	hr.Body = io.NopCloser(&piecesReader{pieces: pieces})
	if len(inp.Trailers) > 0 {
		hr.Trailer = http.Header{}
		for _, t := range inp.Trailers {
			hr.Trailer.Add(t[0], t[1])
		}
	}
	enc := bhttp.NewIndeterminateLengthResponseEncoder()
	enc.PadToMultipleOf = computeChunkLen
	enc.MaxEncodedChunkLen = computeChunkLen
	msg, err := enc.EncodeResponse(hr)
	if err != nil {
		return clientResult{}, err
	}
	pt, err := io.ReadAll(msg)
	if err != nil {
		return clientResult{}, err
	}
	return decodeResponse(pt), nil
}
