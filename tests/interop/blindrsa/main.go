// Command blindrsa-peer runs the currency's partially blind RSA steps with cloudflare/circl v1.6.1
// (what the reference's anonpay uses), for the benchmark in benches/test_bench_blindrsa.py.
//
// stdin, first line: {"key_pem": PKCS#8 PEM, "info": hex, "msg": hex}. Then one command per line,
// "<op> <count>" with op in blind, sign, finalize, verify: the peer runs the step count times and
// answers "ok". Blinding follows the reference: a fresh r, PSS salt of 48 zero bytes (FixedBlind).
package main

import (
	"bufio"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"strconv"
	"strings"

	"github.com/cloudflare/circl/blindsign/blindrsa/partiallyblindrsa"
)

type setup struct {
	KeyPEM string `json:"key_pem"`
	Info   string `json:"info"`
	Msg    string `json:"msg"`
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	if !in.Scan() {
		os.Exit(1)
	}
	var s setup
	must(json.Unmarshal(in.Bytes(), &s))
	block, _ := pem.Decode([]byte(s.KeyPEM))
	if block == nil {
		must(fmt.Errorf("no PEM block"))
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	must(err)
	sk := parsed.(*rsa.PrivateKey)
	info, err := hex.DecodeString(s.Info)
	must(err)
	msg, err := hex.DecodeString(s.Msg)
	must(err)

	verifier := partiallyblindrsa.NewVerifier(&sk.PublicKey, crypto.SHA384)
	signer, err := partiallyblindrsa.NewSigner(sk, crypto.SHA384)
	must(err)
	zeroSalt := make([]byte, 48)

	blind := func() ([]byte, partiallyblindrsa.VerifierState) {
		r, err := rand.Int(rand.Reader, sk.N)
		must(err)
		rInv := new(big.Int).ModInverse(r, sk.N)
		if rInv == nil {
			must(fmt.Errorf("r not invertible"))
		}
		blinded, state, err := verifier.FixedBlind(msg, info, zeroSalt, r.Bytes(), rInv.Bytes())
		must(err)
		return blinded, state
	}
	blinded, state := blind()
	blindSig, err := signer.BlindSign(blinded, info)
	must(err)
	sig, err := state.Finalize(blindSig)
	must(err)
	must(verifier.Verify(msg, info, sig))

	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, hex.EncodeToString(sig))
	must(out.Flush())
	for in.Scan() {
		fields := strings.Fields(in.Text())
		if len(fields) != 2 {
			must(fmt.Errorf("bad command"))
		}
		count, err := strconv.Atoi(fields[1])
		must(err)
		for i := 0; i < count; i++ {
			switch fields[0] {
			case "blind":
				blind()
			case "sign":
				_, err = signer.BlindSign(blinded, info)
			case "finalize":
				_, err = state.Finalize(blindSig)
			case "verify":
				err = verifier.Verify(msg, info, sig)
			default:
				err = fmt.Errorf("unknown op")
			}
			must(err)
		}
		fmt.Fprintln(out, "ok")
		must(out.Flush())
	}
}
