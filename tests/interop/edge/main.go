// Command edge runs the reference's side of the relay and gateway benchmarks (benches/edge_load.py),
// each mode one server on loopback that prints "listening on http://127.0.0.1:PORT":
//
//	edge gateway -kem 32|48 -seed HEX -bank URL -router URL   the reference gateway: github.com/openpcc/ohttp
//	                                                          v0.0.80 (host allow-list, 532-byte response
//	                                                          chunks) in front of an httputil.ReverseProxy,
//	                                                          as the reference's mem-gateway builds it
//	edge proxy -target URL                                    httputil.ReverseProxy with FlushInterval -1,
//	                                                          as the reference's ohttp-relay
//	edge echo                                                 an upstream answering every POST with its body
//	edge client -relay URL -keyconfig HEX                     the reference client (ohttp.Transport, 532-byte
//	                                                          fixed request chunks, as client.go sets it up):
//	                                                          one known-length bank request and one
//	                                                          unknown-length compute request (chunked OHTTP);
//	                                                          prints one JSON line per request
//
// Nothing from the modules is committed; `go build` fetches the versions pinned in go.sum.
package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"

	"github.com/cloudflare/circl/hpke"
	"github.com/openpcc/ohttp"
	"github.com/openpcc/ohttp/encoding/bhttp"
)

func listen(addr string) net.Listener {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	return ln
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		log.Fatal(err)
	}
	return u
}

func gateway(args []string) {
	fs := flag.NewFlagSet("gateway", flag.ExitOnError)
	addr := fs.String("listen", "127.0.0.1:0", "listen address")
	kemID := fs.Int("kem", 48, "32 (X25519) or 48 (X25519Kyber768Draft00)")
	seedHex := fs.String("seed", "", "32-byte key seed, hex")
	bank := fs.String("bank", "", "bank URL")
	router := fs.String("router", "", "router URL")
	_ = fs.Parse(args)
	seed, err := hex.DecodeString(*seedHex)
	if err != nil || len(seed) != 32 {
		log.Fatal("seed must be 32 bytes of hex")
	}
	kem := hpke.KEM(uint16(*kemID))
	pk, sk := kem.Scheme().DeriveKeyPair(seed)
	pair := ohttp.KeyPair{SecretKey: sk, KeyConfig: ohttp.KeyConfig{
		KeyID: 1, KemID: kem, PublicKey: pk,
		SymmetricAlgorithms: []ohttp.SymmetricAlgorithm{{KDFID: hpke.KDF_HKDF_SHA256, AEADID: hpke.AEAD_AES128GCM}},
	}}
	decoder, err := bhttp.NewRequestDecoder(bhttp.FixedLengthResponseChunks(), bhttp.MaxResponseChunkLen(532))
	if err != nil {
		log.Fatal(err)
	}
	gw, err := ohttp.NewGateway(pair,
		ohttp.WithRequestDecoder(decoder),
		ohttp.WithRequestValidator(ohttp.NewHostnameAllowlist("confsec-bank.invalid", "confsec-router.invalid")))
	if err != nil {
		log.Fatal(err)
	}
	bankURL, routerURL := mustURL(*bank), mustURL(*router)
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		if r.In.Host == "confsec-bank.invalid" {
			r.SetURL(bankURL)
		} else {
			r.SetURL(routerURL)
		}
	}}
	mux := http.NewServeMux()
	for _, p := range []string{"/deposit", "/exchange", "/withdraw", "/withdraw-full", "/balance"} {
		mux.Handle("POST confsec-bank.invalid"+p, proxy)
	}
	mux.Handle("GET confsec-router.invalid/ping", proxy)
	mux.Handle("POST confsec-router.invalid/compute-manifests", proxy)
	mux.Handle("POST confsec-router.invalid/{$}", proxy)
	outer := http.NewServeMux()
	outer.Handle("POST /", ohttp.Middleware(gw, mux))
	log.Fatal(http.Serve(listen(*addr), outer))
}

func proxy(args []string) {
	fs := flag.NewFlagSet("proxy", flag.ExitOnError)
	addr := fs.String("listen", "127.0.0.1:0", "listen address")
	target := fs.String("target", "", "where every request goes")
	_ = fs.Parse(args)
	to := mustURL(*target)
	p := &httputil.ReverseProxy{FlushInterval: -1, Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(to)
		r.Out.URL.Path = to.Path
	}}
	log.Fatal(http.Serve(listen(*addr), p))
}

func echo(args []string) {
	fs := flag.NewFlagSet("echo", flag.ExitOnError)
	addr := fs.String("listen", "127.0.0.1:0", "listen address")
	_ = fs.Parse(args)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
	log.Fatal(http.Serve(listen(*addr), handler))
}

type clientResult struct {
	Name        string            `json:"name"`
	Status      int               `json:"status"`
	Body        string            `json:"body"`
	Trailer     map[string]string `json:"trailer"`
	Error       string            `json:"error,omitempty"`
	ContentType string            `json:"content_type"`
}

func client(args []string) {
	fs := flag.NewFlagSet("client", flag.ExitOnError)
	relay := fs.String("relay", "", "relay URL")
	keyHex := fs.String("keyconfig", "", "one key config (RFC 9458 §3), hex")
	_ = fs.Parse(args)
	raw, err := hex.DecodeString(*keyHex)
	if err != nil {
		log.Fatal("keyconfig must be hex")
	}
	var kc ohttp.KeyConfig
	if err := kc.UnmarshalBinary(raw); err != nil {
		log.Fatal(err)
	}
	encoder, err := bhttp.NewRequestEncoder(bhttp.FixedLengthRequestChunks(), bhttp.MaxRequestChunkLen(532))
	if err != nil {
		log.Fatal(err)
	}
	transport, err := ohttp.NewTransport(kc, *relay, ohttp.WithRequestEncoder(encoder))
	if err != nil {
		log.Fatal(err)
	}
	httpClient := &http.Client{Transport: transport}
	out := json.NewEncoder(os.Stdout)
	do := func(name string, req *http.Request) {
		result := clientResult{Name: name, Trailer: map[string]string{}}
		resp, err := httpClient.Do(req)
		if err != nil {
			result.Error = err.Error()
		} else {
			body, readErr := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if readErr != nil {
				result.Error = readErr.Error()
			}
			result.Status, result.Body, result.ContentType = resp.StatusCode, string(body), resp.Header.Get("Content-Type")
			for k := range resp.Trailer {
				result.Trailer[k] = resp.Trailer.Get(k)
			}
		}
		_ = out.Encode(result)
	}
	bank, _ := http.NewRequest(http.MethodPost, "http://confsec-bank.invalid/deposit", bytes.NewReader(bytes.Repeat([]byte("d"), 1000)))
	do("bank", bank)
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write(bytes.Repeat([]byte("prompt "), 300))
		_ = pw.Close()
	}()
	compute, _ := http.NewRequest(http.MethodPost, "http://confsec-router.invalid/", pr) // unknown length: chunked
	do("compute", compute)
}

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: edge gateway|proxy|echo [flags]")
	}
	switch os.Args[1] {
	case "gateway":
		gateway(os.Args[2:])
	case "proxy":
		proxy(os.Args[2:])
	case "echo":
		echo(os.Args[2:])
	case "client":
		client(os.Args[2:])
	default:
		log.Fatal("unknown mode")
	}
}
