module openpcc.test/interop/kyber

go 1.24.0

require github.com/cloudflare/circl v1.6.1

require golang.org/x/sys v0.10.0 // indirect
