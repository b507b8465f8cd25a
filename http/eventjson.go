package http

import (
	"encoding/json"
	"fmt"

	triggers "github.com/triggersapi/triggers"
)

// EventJSON returns e as GET /v1/events/{id} writes it, without request_id
// and without the trailing newline: the body of a webhook delivery (DESIGN
// §11.2). It goes through the same two steps as that handler (toEventJSON,
// then encoding/json), so the bytes are the same by construction: numbers
// as the client sent them, strings escaped as encoding/json escapes them
// (<, > and & included). e is as Service presents it (Service.GetEvent).
//
// The inbox's own encoder (appendEvent) is not used: it leaves <, > and &
// unescaped in the payload and metadata, so its bytes differ from GET's
// for such events, though they decode to the same values.
//
// It fails only when the stored payload or metadata is not valid JSON,
// which a store never gives back unless it is corrupted.
func EventJSON(e *triggers.Event) ([]byte, error) {
	b, err := json.Marshal(toEventJSON(e))
	if err != nil {
		return nil, fmt.Errorf("http: event %s as JSON: %w", e.ID, err)
	}
	return b, nil
}
