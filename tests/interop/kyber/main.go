// Command kyber prints Kyber768 (NIST round 3) vectors computed by cloudflare/circl, the library
// the OpenPCC Go reference uses for the post-quantum half of X25519Kyber768Draft00.
//
// Usage:
//
//	go run . > circl-kyber768-vectors.json   # the committed vectors
//	go run . -extra 200                      # plus 200 more, for live cross-checks
//
// Every seed is fixed (a few hand-picked ones, the rest expanded with SHAKE-256 from a label),
// so the output is deterministic.
package main

import (
	"bytes"
	"crypto/sha3"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/cloudflare/circl/kem/kyber/kyber768"
)

type vector struct {
	Name                  string `json:"name"`
	KeySeed               string `json:"key_seed"`
	EncapsSeed            string `json:"encaps_seed"`
	PublicKey             string `json:"public_key"`
	SecretKey             string `json:"secret_key"`
	Ciphertext            string `json:"ciphertext"`
	SharedSecret          string `json:"shared_secret"`
	CorruptedBit          int    `json:"corrupted_bit"`
	CorruptedCiphertext   string `json:"corrupted_ciphertext"`
	CorruptedSharedSecret string `json:"corrupted_shared_secret"`
	RandomCiphertext      string `json:"random_ciphertext"`
	RandomSharedSecret    string `json:"random_shared_secret"`
}

type vectorFile struct {
	Source    string   `json:"source"`
	Generator string   `json:"generator"`
	Notes     string   `json:"notes"`
	Vectors   []vector `json:"vectors"`
}

// The Kyber768 seed of the mem-gateway's dev key (openpcc-reference.md §13.3).
const gatewayKeySeed = "5befba09d5ce3ee22c39ec74f7a799fc0e6aba077a9dd5bcc5976326921c32f1" +
	"a592b7aa7056f6750b205a1c4cf725b725cc945937d2e081886e6f8c93a6a538"

func expand(label string, index int, size int) []byte {
	out := make([]byte, size)
	h := sha3.NewSHAKE256()
	fmt.Fprintf(h, "openpcc kyber768 %s %d", label, index)
	h.Read(out)
	return out
}

func filled(b byte, size int) []byte { return bytes.Repeat([]byte{b}, size) }

func mustDecode(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func makeVector(name string, keySeed, encapsSeed []byte, index int) vector {
	pk, sk := kyber768.NewKeyFromSeed(keySeed)
	pkBytes := make([]byte, kyber768.PublicKeySize)
	skBytes := make([]byte, kyber768.PrivateKeySize)
	pk.Pack(pkBytes)
	sk.Pack(skBytes)

	ct := make([]byte, kyber768.CiphertextSize)
	ss := make([]byte, kyber768.SharedKeySize)
	pk.EncapsulateTo(ct, ss, encapsSeed)

	decapsulate := func(c []byte) []byte {
		out := make([]byte, kyber768.SharedKeySize)
		sk.DecapsulateTo(out, c)
		return out
	}
	if !bytes.Equal(decapsulate(ct), ss) {
		panic("circl decapsulation disagrees with its encapsulation")
	}

	// Spread the flipped bit over both the u and the v part of the ciphertext.
	bit := (index*7919 + 13) % (kyber768.CiphertextSize * 8)
	corrupted := bytes.Clone(ct)
	corrupted[bit/8] ^= 1 << (bit % 8)
	random := expand("random ciphertext", index, kyber768.CiphertextSize)

	return vector{
		Name:                  name,
		KeySeed:               hex.EncodeToString(keySeed),
		EncapsSeed:            hex.EncodeToString(encapsSeed),
		PublicKey:             hex.EncodeToString(pkBytes),
		SecretKey:             hex.EncodeToString(skBytes),
		Ciphertext:            hex.EncodeToString(ct),
		SharedSecret:          hex.EncodeToString(ss),
		CorruptedBit:          bit,
		CorruptedCiphertext:   hex.EncodeToString(corrupted),
		CorruptedSharedSecret: hex.EncodeToString(decapsulate(corrupted)),
		RandomCiphertext:      hex.EncodeToString(random),
		RandomSharedSecret:    hex.EncodeToString(decapsulate(random)),
	}
}

func vectors(extra int) []vector {
	out := []vector{
		makeVector("gateway dev key seed, zero encapsulation seed", mustDecode(gatewayKeySeed), filled(0, 32), 0),
		makeVector("all-zero seeds", filled(0, 64), filled(0, 32), 1),
		makeVector("all-0xff seeds", filled(0xff, 64), filled(0xff, 32), 2),
	}
	for i := len(out); i < 12+extra; i++ {
		label := "vector"
		if i >= 12 {
			label = "extra vector"
		}
		seeds := expand(label, i, 96)
		out = append(out, makeVector(fmt.Sprintf("%s %d", label, i), seeds[:64], seeds[64:], i))
	}
	return out
}

// render returns the JSON document with the 12 fixed vectors plus `extra` more.
func render(extra int) ([]byte, error) {
	file := vectorFile{
		Source:    "github.com/cloudflare/circl v1.6.1, kem/kyber/kyber768 (NewKeyFromSeed, EncapsulateTo, DecapsulateTo)",
		Generator: "cd tests/interop/kyber && go run . > circl-kyber768-vectors.json",
		Notes: "secret_key is circl's packed layout s_hat || pk || H(pk) || z. corrupted_ciphertext is ciphertext " +
			"with bit corrupted_bit flipped (LSB-first); corrupted_shared_secret and random_shared_secret are " +
			"circl's implicit-rejection outputs for those ciphertexts.",
		Vectors: vectors(extra),
	}
	var out bytes.Buffer
	encoder := json.NewEncoder(&out)
	encoder.SetIndent("", "  ")
	encoder.SetEscapeHTML(false)
	if err := encoder.Encode(file); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func main() {
	extra := flag.Int("extra", 0, "number of additional SHAKE-derived vectors")
	flag.Parse()
	out, err := render(*extra)
	if err == nil {
		_, err = os.Stdout.Write(out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
