// Command tlog cross-checks openpcc's transparency log with golang.org/x/mod's sumdb/note and
// sumdb/tlog, an independent implementation of signed notes and RFC 6962 tiled Merkle trees.
//
// Usage: tlog DIR VKEY < REQUEST
//
// DIR is a C2SP tlog-tiles directory written by openpcc; VKEY the log's note verifier key.
// REQUEST (JSON on stdin): {"old_size": N, "records": [{"index": I, "data": base64}]}.
// It opens DIR/checkpoint with the verifier, reads tiles from DIR (C2SP paths are Go's tile paths
// without the height element), checks each record's inclusion proof against the checkpoint root
// and the consistency proof from old_size, and prints {"size", "root", "records_ok", "consistent"}.
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type request struct {
	OldSize int64 `json:"old_size"`
	Records []struct {
		Index int64  `json:"index"`
		Data  string `json:"data"`
	} `json:"records"`
}

type tileDir string

// c2spPath is the tlog-tiles path of t: Go's tile path without the "/8" height element.
func c2spPath(t tlog.Tile) string {
	goPath := t.Path() // tile/8/L/NNN[.p/W]
	parts := strings.SplitN(goPath, "/", 3)
	return parts[0] + "/" + parts[2]
}

func (d tileDir) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		data, err := os.ReadFile(filepath.Join(string(d), c2spPath(t)))
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

func (d tileDir) Height() int             { return 8 }
func (d tileDir) SaveTiles([]tlog.Tile, [][]byte) {}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 3 {
		fail("usage: tlog DIR VKEY < request.json")
	}
	dir, vkey := os.Args[1], os.Args[2]
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fail("request: %v", err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		fail("verifier key: %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if err != nil {
		fail("checkpoint: %v", err)
	}
	n, err := note.Open(raw, note.VerifierList(verifier))
	if err != nil {
		fail("note.Open: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("checkpoint size: %v", err)
	}
	rootBytes, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(rootBytes) != tlog.HashSize {
		fail("checkpoint root: %v", err)
	}
	var root tlog.Hash
	copy(root[:], rootBytes)
	tree := tlog.Tree{N: size, Hash: root}
	reader := tlog.TileHashReader(tree, tileDir(dir))
	ok := 0
	for _, rec := range req.Records {
		data, err := base64.StdEncoding.DecodeString(rec.Data)
		if err != nil {
			fail("record data: %v", err)
		}
		proof, err := tlog.ProveRecord(size, rec.Index, reader)
		if err != nil {
			fail("ProveRecord(%d): %v", rec.Index, err)
		}
		if err := tlog.CheckRecord(proof, size, root, rec.Index, tlog.RecordHash(data)); err != nil {
			fail("CheckRecord(%d): %v", rec.Index, err)
		}
		ok++
	}
	consistent := false
	if req.OldSize > 0 && req.OldSize <= size {
		oldRoot, err := tlog.TreeHash(req.OldSize, reader)
		if err != nil {
			fail("TreeHash(%d): %v", req.OldSize, err)
		}
		proof, err := tlog.ProveTree(size, req.OldSize, reader)
		if err != nil {
			fail("ProveTree: %v", err)
		}
		if err := tlog.CheckTree(proof, size, root, req.OldSize, oldRoot); err != nil {
			fail("CheckTree: %v", err)
		}
		consistent = true
	}
	json.NewEncoder(os.Stdout).Encode(map[string]any{
		"size": size, "root": base64.StdEncoding.EncodeToString(root[:]), "records_ok": ok, "consistent": consistent,
	})
}
