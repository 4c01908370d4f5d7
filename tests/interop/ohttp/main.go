// Command ohttp-peer runs the OpenPCC reference's OHTTP code (github.com/openpcc/ohttp v0.0.80: its
// Gateway behind ohttp.Middleware and its Transport client; twoway and bhttp v0.0.80; circl HPKE) as a
// peer for openpcc's interop tests, over loopback HTTP. Two keys: id 1 on the reference suite
// X25519Kyber768Draft00 (0x0030) with the mem-gateway seed, id 2 on DHKEM(X25519) (0x0020); both
// HKDF-SHA256 / AES-128-GCM.
//
// Two configurations of each side: "default" (the ohttp module's defaults) and "openpcc" (how OpenPCC
// configures them, spec §2.6: the client pads BHTTP to multiples of 532 and seals fixed 532-byte request
// chunks; the gateway does the same to responses).
//
// The inner handler (the "target") answers POST /plain with a known-length body (so the reference
// gateway sends message/ohttp-res) and POST /chunked with a flushed body and an X-Digest trailer
// (so it sends message/ohttp-chunked-res), whatever the request's form. Its body is
// "reference <path> <sha256 of the request body>".
//
// Modes:
//
//	ohttp-peer gateway   serve the reference gateway on 127.0.0.1 in both configurations; print
//	                     {"urls": {config: url}, "key_configs"}; stop when stdin closes.
//	ohttp-peer client    read {"url", "key_configs", "body"} on stdin; run the reference Transport in
//	                     both configurations against that gateway for every key, request form and
//	                     path; print the results.
//	ohttp-peer vectors   reference Transport against the reference gateway in-process (loopback), with
//	                     a deterministic client RNG; print every exchange as JSON test vectors.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha3"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/cloudflare/circl/hpke"
	"github.com/openpcc/ohttp"
	obhttp "github.com/openpcc/ohttp/encoding/bhttp"
	"github.com/openpcc/twoway"
)

// openpccChunkLen is OpenPCC's fixed encapsulated chunk length (spec §2.6).
const openpccChunkLen = 532

// configs are the two ways the reference's sides are set up: the module's defaults, and OpenPCC's.
var configs = []string{"default", "openpcc"}

func gatewayOptions(config string) []ohttp.GatewayOption {
	if config == "default" {
		return nil
	}
	decoder, err := obhttp.NewRequestDecoder(obhttp.FixedLengthResponseChunks(), obhttp.MaxResponseChunkLen(openpccChunkLen))
	check(err)
	return []ohttp.GatewayOption{ohttp.WithRequestDecoder(decoder)}
}

func transportOptions(config string) []ohttp.TransportOption {
	if config == "default" {
		return nil
	}
	encoder, err := obhttp.NewRequestEncoder(obhttp.FixedLengthRequestChunks(), obhttp.MaxRequestChunkLen(openpccChunkLen))
	check(err)
	return []ohttp.TransportOption{ohttp.WithRequestEncoder(encoder)}
}

// Versions of the reference modules this harness is built against (kept equal to go.mod).
const referenceVersions = "github.com/openpcc/ohttp v0.0.80, twoway v0.0.80, bhttp v0.0.80, cloudflare/circl v1.6.1"

type peerKey struct {
	id   byte
	kem  hpke.KEM
	seed []byte
	pair ohttp.KeyPair
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "ohttp-peer:", err)
		os.Exit(1)
	}
}

func newKey(id byte, kemID hpke.KEM, seed []byte) peerKey {
	pk, sk := kemID.Scheme().DeriveKeyPair(seed)
	config := ohttp.KeyConfig{
		KeyID:               id,
		KemID:               kemID,
		PublicKey:           pk,
		SymmetricAlgorithms: []ohttp.SymmetricAlgorithm{{KDFID: hpke.KDF_HKDF_SHA256, AEADID: hpke.AEAD_AES128GCM}},
	}
	return peerKey{id: id, kem: kemID, seed: seed, pair: ohttp.KeyPair{SecretKey: sk, KeyConfig: config}}
}

func peerKeys() []peerKey {
	return []peerKey{
		newKey(1, hpke.KEM_X25519_KYBER768_DRAFT00, mustHex("0f4eda2e6c806018fb1082a6b0d8dc30c3aee556b41ac47cda7db81a57985997")),
		newKey(2, hpke.KEM_X25519_HKDF_SHA256, bytes.Repeat([]byte{0x22}, 32)),
	}
}

// keyRing finds the key a request header names among several key pairs.
type keyRing []peerKey

func (r keyRing) FindSecretKey(ctx context.Context, header twoway.RequestHeader) (ohttp.SecretKeyInfo, error) {
	for _, k := range r {
		if k.id == header.KeyID {
			return k.pair.FindSecretKey(ctx, header)
		}
	}
	return ohttp.SecretKeyInfo{}, errors.New("no key with this id")
}

func keyConfigHex(k peerKey) string {
	b, err := k.pair.KeyConfig.MarshalBinary()
	check(err)
	return hex.EncodeToString(b)
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// target is the inner handler: /plain answers with a known length, /chunked streams with a trailer.
func target(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read error", http.StatusBadRequest)
		return
	}
	reply := []byte(fmt.Sprintf("reference %s %s", r.URL.Path, digest(body)))
	switch r.URL.Path {
	case "/plain":
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", fmt.Sprint(len(reply)))
		_, _ = w.Write(reply)
	case "/chunked":
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Trailer", "X-Digest")
		_, _ = w.Write(reply)
		w.(http.Flusher).Flush()
		w.Header().Set("X-Digest", digest(body))
	default:
		http.NotFound(w, r)
	}
}

// serveGateway serves the reference gateway middleware on a loopback port.
func serveGateway(keys []peerKey, config string) (*http.Server, string) {
	gateway, err := ohttp.NewGateway(keyRing(keys), gatewayOptions(config)...)
	check(err)
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	server := &http.Server{Handler: ohttp.Middleware(gateway, http.HandlerFunc(target)), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = server.Serve(listener) }()
	return server, "http://" + listener.Addr().String() + "/"
}

// recorder is an http.RoundTripper that keeps the outer request and response of the last exchange.
type recorder struct {
	requestType, responseType string
	request, response         []byte
}

func (rec *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	rec.requestType, rec.request = req.Header.Get("Content-Type"), body
	out := req.Clone(req.Context())
	out.Body = io.NopCloser(bytes.NewReader(body))
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	respBody, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	rec.responseType, rec.response = resp.Header.Get("Content-Type"), respBody
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	return resp, nil
}

// tapeReader is a deterministic RNG (SHAKE-256 of a seed) that keeps what was read.
type tapeReader struct {
	shake *sha3.SHAKE
	tape  []byte
}

func newTape(seed string) *tapeReader {
	s := sha3.NewSHAKE256()
	_, _ = s.Write([]byte(seed))
	return &tapeReader{shake: s}
}

func (t *tapeReader) Read(p []byte) (int, error) {
	n, err := t.shake.Read(p)
	t.tape = append(t.tape, p[:n]...)
	return n, err
}

type result struct {
	Config              string            `json:"config"`
	KeyID               byte              `json:"key_id"`
	Kem                 uint16            `json:"kem"`
	RequestForm         string            `json:"request_form"`
	Path                string            `json:"path"`
	RequestBody         string            `json:"request_body"`
	RequestMediaType    string            `json:"request_media_type"`
	ResponseMediaType   string            `json:"response_media_type"`
	Status              int               `json:"status"`
	ResponseBody        string            `json:"response_body"`
	Trailers            map[string]string `json:"trailers"`
	ClientRNG           string            `json:"client_rng,omitempty"`
	EncapsulatedRequest string            `json:"encapsulated_request,omitempty"`
	RequestPlaintext    string            `json:"request_plaintext,omitempty"`
	EncapsulatedResp    string            `json:"encapsulated_response,omitempty"`
	ResponsePlaintext   string            `json:"response_plaintext,omitempty"`
}

// innerRequest is the application request: known length ("plain" form) or unknown ("chunked").
func innerRequest(form, path string, body []byte) *http.Request {
	var reader io.Reader = bytes.NewReader(body)
	if form == "chunked" {
		reader = io.MultiReader(reader) // hides the length: the BHTTP message becomes indeterminate
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+ohttp.DefaultAllowedHostname+path, reader)
	check(err)
	if form == "chunked" {
		req.ContentLength = -1
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	return req
}

// roundTrip sends one request through the reference Transport and reads the inner response.
func roundTrip(transport *ohttp.Transport, config string, k peerKey, form, path string, body []byte) result {
	resp, err := transport.RoundTrip(innerRequest(form, path, body))
	check(err)
	respBody, err := io.ReadAll(resp.Body)
	check(err)
	check(resp.Body.Close())
	trailers := map[string]string{}
	for name := range resp.Trailer {
		trailers[name] = resp.Trailer.Get(name)
	}
	return result{
		Config: config, KeyID: k.id, Kem: uint16(k.kem), RequestForm: form, Path: path, RequestBody: hex.EncodeToString(body),
		Status: resp.StatusCode, ResponseBody: string(respBody), Trailers: trailers,
	}
}

func newTransport(setup string, k peerKey, url string, rng io.Reader, rec *recorder) *ohttp.Transport {
	config := k.pair.KeyConfig
	suite := hpke.NewSuite(config.KemID, config.SymmetricAlgorithms[0].KDFID, config.SymmetricAlgorithms[0].AEADID)
	sender, err := twoway.NewRequestSender(suite, config.KeyID, config.PublicKey, rng)
	check(err)
	opts := append(transportOptions(setup), ohttp.WithHTTPClient(&http.Client{Transport: rec, Timeout: 30 * time.Second}))
	transport, err := ohttp.NewTransportWithSender(sender, url, opts...)
	check(err)
	return transport
}

var forms = []string{"plain", "chunked"}
var paths = []string{"/plain", "/chunked"}

func gatewayMode() {
	keys := peerKeys()
	urls := map[string]string{}
	for _, config := range configs {
		server, url := serveGateway(keys, config)
		defer server.Close()
		urls[config] = url
	}
	keyConfigs := []string{}
	for _, k := range keys {
		keyConfigs = append(keyConfigs, keyConfigHex(k))
	}
	check(json.NewEncoder(os.Stdout).Encode(map[string]any{"urls": urls, "key_configs": keyConfigs, "versions": referenceVersions}))
	_, _ = io.Copy(io.Discard, os.Stdin)
}

func clientMode() {
	var in struct {
		URL        string   `json:"url"`
		KeyConfigs []string `json:"key_configs"`
		Body       string   `json:"body"`
	}
	check(json.NewDecoder(os.Stdin).Decode(&in))
	body := mustHex(in.Body)
	results := []result{}
	for _, configHex := range in.KeyConfigs {
		var config ohttp.KeyConfig
		check(config.UnmarshalBinary(mustHex(configHex)))
		k := peerKey{id: config.KeyID, kem: config.KemID, pair: ohttp.KeyPair{KeyConfig: config}}
		for _, setup := range configs {
			for _, form := range forms {
				for _, path := range paths {
					rec := &recorder{}
					r := roundTrip(newTransport(setup, k, in.URL, nil, rec), setup, k, form, path, body)
					r.RequestMediaType, r.ResponseMediaType = rec.requestType, rec.responseType
					results = append(results, r)
				}
			}
		}
	}
	check(json.NewEncoder(os.Stdout).Encode(results))
}

// openRecorded opens a recorded exchange with twoway directly, to give the vectors their plaintexts.
func openRecorded(k peerKey, r *result, rng []byte, rec *recorder) {
	config := k.pair.KeyConfig
	suite := hpke.NewSuite(config.KemID, config.SymmetricAlgorithms[0].KDFID, config.SymmetricAlgorithms[0].AEADID)
	chunkedReq := rec.requestType == ohttp.ChunkedRequestMediaType
	chunkedResp := rec.responseType == ohttp.ChunkedResponseMediaType
	receiver, err := twoway.NewRequestReceiver(suite, config.KeyID, k.pair.SecretKey, nil)
	check(err)
	opener, err := receiver.NewRequestOpener(bytes.NewReader(rec.request), label(chunkedReq, true), chunking(chunkedReq)...)
	check(err)
	requestPT, err := io.ReadAll(opener)
	check(err)

	// Replaying the client's RNG gives the same HPKE context, hence the same response secrets.
	sender, err := twoway.NewRequestSender(suite, config.KeyID, config.PublicKey, bytes.NewReader(rng))
	check(err)
	sealer, err := sender.NewRequestSealer(bytes.NewReader(requestPT), label(chunkedReq, true), chunking(chunkedReq)...)
	check(err)
	respOpener, err := sealer.NewResponseOpener(bytes.NewReader(rec.response), label(chunkedResp, false), chunking(chunkedResp)...)
	check(err)
	responsePT, err := io.ReadAll(respOpener)
	check(err)

	r.ClientRNG = hex.EncodeToString(rng)
	r.EncapsulatedRequest = hex.EncodeToString(rec.request)
	r.RequestPlaintext = hex.EncodeToString(requestPT)
	r.EncapsulatedResp = hex.EncodeToString(rec.response)
	r.ResponsePlaintext = hex.EncodeToString(responsePT)
}

func label(chunked, request bool) []byte {
	switch {
	case chunked && request:
		return []byte("message/bhttp chunked request")
	case request:
		return []byte("message/bhttp request")
	case chunked:
		return []byte("message/bhttp chunked response")
	default:
		return []byte("message/bhttp response")
	}
}

func chunking(chunked bool) []twoway.Option {
	if !chunked {
		return nil
	}
	return []twoway.Option{twoway.EnableChunking(), twoway.WithMaxChunkPlaintextLen(16384)}
}

func vectorsMode() {
	keys := peerKeys()
	body := bytes.Repeat([]byte("openpcc interop "), 300) // 4800 bytes: two or more request chunks
	cases := []result{}
	for _, setup := range configs {
		server, url := serveGateway(keys, setup)
		for _, k := range keys {
			for _, form := range forms {
				for _, path := range paths {
					rng := newTape(fmt.Sprintf("openpcc ohttp vectors %s key %d %s %s", setup, k.id, form, path))
					rec := &recorder{}
					r := roundTrip(newTransport(setup, k, url, rng, rec), setup, k, form, path, body)
					r.RequestMediaType, r.ResponseMediaType = rec.requestType, rec.responseType
					openRecorded(k, &r, rng.tape, rec)
					cases = append(cases, r)
				}
			}
		}
		check(server.Close())
	}
	keyList := []map[string]any{}
	for _, k := range keys {
		keyList = append(keyList, map[string]any{"key_id": k.id, "kem": uint16(k.kem), "seed": hex.EncodeToString(k.seed), "key_config": keyConfigHex(k)})
	}
	out := json.NewEncoder(os.Stdout)
	out.SetIndent("", " ")
	check(out.Encode(map[string]any{
		"description": "Exchanges between the reference's ohttp.Transport (configs: the module's defaults, and OpenPCC's fixed 532-byte chunks and padding; client RNG = SHAKE-256 of a per-case seed; " +
			"client_rng is what it read) and the reference's ohttp.Middleware gateway over loopback HTTP. " +
			"Plaintexts opened with twoway. Regenerate: cd tests/interop/ohttp && go run . vectors > ../ohttp-vectors.json",
		"versions": referenceVersions,
		"keys":     keyList,
		"cases":    cases,
	}))
}

func main() {
	if len(os.Args) != 2 {
		check(errors.New("usage: ohttp-peer gateway|client|vectors"))
	}
	switch os.Args[1] {
	case "gateway":
		gatewayMode()
	case "client":
		clientMode()
	case "vectors":
		vectorsMode()
	default:
		check(errors.New("unknown mode " + os.Args[1]))
	}
}
