module github.com/openpcc/openpcc-py/tests/interop/blindrsa

go 1.25.4

require github.com/cloudflare/circl v1.6.1

require golang.org/x/crypto v0.11.1-0.20230711161743-2e82bdd1719d // indirect
