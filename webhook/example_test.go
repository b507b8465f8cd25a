package webhook_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/triggersapi/triggers/webhook"
)

// A receiver of Triggers webhooks: read the raw body (bounded), verify it
// before anything else, answer 2xx quickly, and deduplicate on webhook-id,
// which stays the same across retries.
func Example_receiver() {
	// The secret shown when the subscription was created (keep it out of
	// source code in a real receiver).
	secret, err := webhook.NewSecret()
	if err != nil {
		log.Fatal(err)
	}

	receiver := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if err := webhook.Verify(secret, r.Header, body); err != nil {
			// A forged, altered or replayed delivery; Triggers retries
			// genuine ones, so refusing costs nothing.
			status := http.StatusUnauthorized
			if errors.Is(err, webhook.ErrMissingHeaders) {
				status = http.StatusBadRequest
			}
			http.Error(w, "invalid signature", status)
			return
		}
		var event struct {
			EventID   string `json:"event_id"`
			EventType string `json:"event_type"`
		}
		if err := json.Unmarshal(body, &event); err != nil {
			http.Error(w, "not an event", http.StatusBadRequest)
			return
		}
		fmt.Printf("received %s (%s)\n", event.EventType, r.Header.Get(webhook.HeaderID))
		w.WriteHeader(http.StatusNoContent)
	})

	srv := httptest.NewServer(receiver) // a real listener on 127.0.0.1
	defer srv.Close()

	// What Triggers sends, built here with the package's own signer.
	body := []byte(`{"event_id":"0190f5c2-7c2b-7d61-9a4e-2f0c5a1b3c4d","event_type":"order.paid"}`)
	deliver := func(sign bool) int {
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/triggers", bytes.NewReader(body))
		if err != nil {
			log.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if sign {
			if err := webhook.SetHeaders(req.Header, "0190f5c2-7c2b-7d61-9a4e-2f0c5a1b3c4d", time.Now(), body, secret); err != nil {
				log.Fatal(err)
			}
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	fmt.Println("signed:", deliver(true))
	fmt.Println("unsigned:", deliver(false))
	// Output:
	// received order.paid (0190f5c2-7c2b-7d61-9a4e-2f0c5a1b3c4d)
	// signed: 204
	// unsigned: 400
}
