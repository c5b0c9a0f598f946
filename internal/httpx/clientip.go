package httpx

import (
	"net"
	"net/http"
)

// ClientIP is the address a request came from, as rate limits and logs
// name it: the host of r.RemoteAddr. It is the one place that decides, so
// that trusting a proxy's X-Forwarded-For changes only this function.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
