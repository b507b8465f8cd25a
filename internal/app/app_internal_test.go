package app

import (
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
)

// TestServerTimeouts_OutlastLongestWait: a receive may wait up to
// triggers.MaxWaitSeconds before it answers; the server's read and write
// deadlines must leave it that long plus a margin for its store work and
// its answer, or a long poll would be cut off.
func TestServerTimeouts_OutlastLongestWait(t *testing.T) {
	const margin = 5 * time.Second
	longest := triggers.MaxWaitSeconds * time.Second
	for name, d := range map[string]time.Duration{"read": readTimeout, "write": writeTimeout} {
		if d < longest+margin {
			t.Errorf("%s timeout = %v, want at least the longest wait %v + %v", name, d, longest, margin)
		}
	}
}
