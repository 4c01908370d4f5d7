// Command ohttp runs the OpenPCC reference's request/response machinery (github.com/openpcc/twoway, the
// library github.com/openpcc/ohttp builds on, over cloudflare/circl HPKE) as a peer for openpcc's
// OHTTP interop test. It uses the reference gateway suite (X25519Kyber768Draft00 / HKDF-SHA256 /
// AES-128-GCM) and the mem-gateway seed, and speaks JSON lines on stdin/stdout:
//
//  1. it prints {"plain_request", "chunked_request"}: requests sealed by the Go client;
//  2. it reads {"plain_response", "chunked_response"} (openpcc's answers) and
//     {"plain_request", "chunked_request"} (requests sealed by openpcc);
//  3. it prints {"plain_response_pt", "chunked_response_pt"} (what the Go client opened),
//     {"plain_request_pt", "chunked_request_pt"} (what the Go gateway opened) and
//     {"plain_response", "chunked_response"} (the Go gateway's answers to openpcc's requests).
//
// All byte strings are hex. Go's module proxy must be reachable (go.sum pins the versions).
package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/cloudflare/circl/hpke"
	"github.com/openpcc/twoway"
)

const keyID = 1

var (
	seed            = mustHex("0f4eda2e6c806018fb1082a6b0d8dc30c3aee556b41ac47cda7db81a57985997")
	suite           = hpke.NewSuite(hpke.KEM_X25519_KYBER768_DRAFT00, hpke.KDF_HKDF_SHA256, hpke.AEAD_AES128GCM)
	plainLabels     = [2][]byte{[]byte("message/bhttp request"), []byte("message/bhttp response")}
	chunkedLabels   = [2][]byte{[]byte("message/bhttp chunked request"), []byte("message/bhttp chunked response")}
	goRequestBody   = bytes.Repeat([]byte("go request "), 100)
	goResponseBody  = bytes.Repeat([]byte("go response "), 100)
	chunkedSealOpts = []twoway.Option{twoway.EnableChunking(), twoway.WithMaxChunkPlaintextLen(532)}
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop:", err)
		os.Exit(1)
	}
}

func readAll(r io.Reader, err error) []byte {
	check(err)
	b, err := io.ReadAll(r)
	check(err)
	return b
}

type message map[string]string

func main() {
	pk, sk := hpke.KEM_X25519_KYBER768_DRAFT00.Scheme().DeriveKeyPair(seed)
	out := json.NewEncoder(os.Stdout)
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<22)

	// 1. The Go client seals one plain and one chunked request.
	sender, err := twoway.NewRequestSender(suite, keyID, pk, nil)
	check(err)
	plainSealer, err := sender.NewRequestSealer(bytes.NewReader(goRequestBody), plainLabels[0])
	check(err)
	chunkedSealer, err := sender.NewRequestSealer(bytes.NewReader(goRequestBody), chunkedLabels[0], chunkedSealOpts...)
	check(err)
	check(out.Encode(message{
		"plain_request":   hex.EncodeToString(readAll(plainSealer, nil)),
		"chunked_request": hex.EncodeToString(readAll(chunkedSealer, nil)),
	}))

	// 2. openpcc's answers and openpcc's requests.
	if !in.Scan() {
		check(fmt.Errorf("no input: %v", in.Err()))
	}
	var got message
	check(json.Unmarshal(in.Bytes(), &got))

	// 3. The Go client opens the answers; the Go gateway opens the requests and answers them.
	reply := message{}
	plainPT := readAll(plainSealer.NewResponseOpener(bytes.NewReader(mustHex(got["plain_response"])), plainLabels[1]))
	chunkedPT := readAll(chunkedSealer.NewResponseOpener(bytes.NewReader(mustHex(got["chunked_response"])), chunkedLabels[1], twoway.EnableChunking()))
	reply["plain_response_pt"] = hex.EncodeToString(plainPT)
	reply["chunked_response_pt"] = hex.EncodeToString(chunkedPT)

	receiver, err := twoway.NewRequestReceiver(suite, keyID, sk, nil)
	check(err)
	for _, kind := range []struct {
		name   string
		labels [2][]byte
		open   []twoway.Option
		seal   []twoway.Option
	}{
		{"plain", plainLabels, nil, nil},
		{"chunked", chunkedLabels, []twoway.Option{twoway.EnableChunking()}, chunkedSealOpts},
	} {
		opener, err := receiver.NewRequestOpener(bytes.NewReader(mustHex(got[kind.name+"_request"])), kind.labels[0], kind.open...)
		check(err)
		reply[kind.name+"_request_pt"] = hex.EncodeToString(readAll(opener, nil))
		sealer, err := opener.NewResponseSealer(bytes.NewReader(goResponseBody), kind.labels[1], kind.seal...)
		check(err)
		reply[kind.name+"_response"] = hex.EncodeToString(readAll(sealer, nil))
	}
	check(out.Encode(reply))
}
