module openpcc.test/interop/edge

go 1.26

require (
	github.com/cloudflare/circl v1.6.1
	github.com/openpcc/ohttp v0.0.80
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/openpcc/bhttp v0.0.80 // indirect
	github.com/openpcc/twoway v0.0.80 // indirect
	github.com/quic-go/quic-go v0.57.1 // indirect
	go.opentelemetry.io/otel v1.39.0 // indirect
	go.opentelemetry.io/otel/trace v1.39.0 // indirect
	golang.org/x/crypto v0.46.0 // indirect
	golang.org/x/net v0.48.0 // indirect
	golang.org/x/sys v0.39.0 // indirect
	golang.org/x/text v0.32.0 // indirect
)
