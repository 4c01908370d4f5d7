module openpcc.test/interop/ohttp

go 1.26

require (
	github.com/cloudflare/circl v1.6.1
	github.com/openpcc/twoway v0.0.37
)

require (
	github.com/quic-go/quic-go v0.56.0 // indirect
	golang.org/x/crypto v0.54.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
)
