package main

import (
	"bytes"
	"os"
	"testing"

	"github.com/cloudflare/circl/kem/kyber/kyber768"
)

// The committed vectors must be exactly what the generator prints today.
func TestCommittedVectorsAreCurrent(t *testing.T) {
	committed, err := os.ReadFile("circl-kyber768-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := render(0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, fresh) {
		t.Fatal("circl-kyber768-vectors.json is stale: run `go run . > circl-kyber768-vectors.json`")
	}
}

// circl's timings, the peer figures for rust/openpcc-kyber/examples/micro_bench.rs.
func BenchmarkCirclKeygen(b *testing.B) {
	seed := bytes.Repeat([]byte{1}, kyber768.KeySeedSize)
	for b.Loop() {
		kyber768.NewKeyFromSeed(seed)
	}
}

func BenchmarkCirclEncapsulate(b *testing.B) {
	pk, _ := kyber768.NewKeyFromSeed(bytes.Repeat([]byte{1}, kyber768.KeySeedSize))
	seed := bytes.Repeat([]byte{2}, kyber768.EncapsulationSeedSize)
	ct := make([]byte, kyber768.CiphertextSize)
	ss := make([]byte, kyber768.SharedKeySize)
	for b.Loop() {
		pk.EncapsulateTo(ct, ss, seed)
	}
}

func BenchmarkCirclDecapsulate(b *testing.B) {
	pk, sk := kyber768.NewKeyFromSeed(bytes.Repeat([]byte{1}, kyber768.KeySeedSize))
	ct := make([]byte, kyber768.CiphertextSize)
	ss := make([]byte, kyber768.SharedKeySize)
	pk.EncapsulateTo(ct, ss, bytes.Repeat([]byte{2}, kyber768.EncapsulationSeedSize))
	for b.Loop() {
		sk.DecapsulateTo(ss, ct)
	}
}
