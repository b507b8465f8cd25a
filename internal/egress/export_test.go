package egress

import (
	"context"
	"net"
)

// SetDial replaces the dialer of g for one resolved address, so tests can
// record what would be dialed without connecting anywhere.
func SetDial(g *Guard, dial func(ctx context.Context, network, addr string) (net.Conn, error)) {
	g.dial = dial
}
