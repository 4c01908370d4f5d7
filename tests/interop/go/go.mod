module github.com/openpcc/openpcc-py/tests/interop

go 1.25.4

require (
	github.com/cloudflare/circl v1.6.1
	github.com/openpcc/bhttp v0.0.80
	github.com/openpcc/twoway v0.0.80
)

require (
	github.com/quic-go/quic-go v0.57.1 // indirect
	golang.org/x/crypto v0.46.0 // indirect
	golang.org/x/net v0.48.0 // indirect
	golang.org/x/sys v0.39.0 // indirect
	golang.org/x/text v0.32.0 // indirect
)
