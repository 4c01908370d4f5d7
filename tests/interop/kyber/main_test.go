package main

import (
	"bytes"
	"os"
	"testing"
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
