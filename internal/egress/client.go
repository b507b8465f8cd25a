package egress

import (
	"io"
	"net/http"
	"time"
)

// DeliveryTimeout bounds one webhook delivery attempt, from dialing to the
// end of reading the response (DESIGN §11.2: success is a 2xx within 15 s).
const DeliveryTimeout = 15 * time.Second

// MaxResponseBody is how much of a receiver's response body a delivery
// reads: enough for an error message in the delivery log, never more.
const MaxResponseBody = 4 << 10

// maxResponseHeaderBytes bounds the response headers a receiver can send.
const maxResponseHeaderBytes = 64 << 10

// NewClient returns the http.Client for webhook deliveries: every
// connection goes through g's DialContext, redirects are never followed
// (the 3xx response itself is returned, and counts as a failure), proxy
// environment variables are ignored, each request times out after
// DeliveryTimeout, and every request carries userAgent unless it sets its
// own User-Agent. Read response bodies with ReadBody.
func NewClient(g *Guard, userAgent string) *http.Client {
	t := &http.Transport{
		Proxy:                  nil, // never http(s)_proxy: the guard must see the destination
		DialContext:            g.DialContext,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  DeliveryTimeout,
		ExpectContinueTimeout:  time.Second,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    10,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
	}
	return &http.Client{
		Transport: userAgentTransport{base: t, userAgent: userAgent},
		Timeout:   DeliveryTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// userAgentTransport sets a default User-Agent header.
type userAgentTransport struct {
	base      http.RoundTripper
	userAgent string
}

func (t userAgentTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.userAgent != "" && r.Header.Get("User-Agent") == "" {
		r = r.Clone(r.Context()) // a RoundTripper must not modify its request
		r.Header.Set("User-Agent", t.userAgent)
	}
	return t.base.RoundTrip(r)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// underlying transport.
func (t userAgentTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// ReadBody reads at most limit bytes of body and closes it, whatever the
// body's length: a receiver sending a huge or endless body costs one bounded
// read. The rest is not drained, so such a connection is not reused. The
// error is that of the read, if it failed before limit bytes or the end.
func ReadBody(body io.ReadCloser, limit int64) ([]byte, error) {
	defer body.Close()
	return io.ReadAll(io.LimitReader(body, limit))
}
