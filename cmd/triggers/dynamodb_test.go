package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// dynamoEndpoint returns the dynalite endpoint that scripts/test.sh starts;
// without one the test skips, except in CI, where it fails.
func dynamoEndpoint(t *testing.T) string {
	t.Helper()
	ep := os.Getenv("TRIGGERS_DYNAMODB_ENDPOINT")
	if ep == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("TRIGGERS_DYNAMODB_ENDPOINT is not set: run the tests with scripts/test.sh (make test), which starts dynalite")
		}
		t.Skip("TRIGGERS_DYNAMODB_ENDPOINT is not set; make test starts dynalite")
	}
	return ep
}

// TestDynamoDB_TablesKeysAndServe runs the real binary on the DynamoDB store:
// tables create (twice: idempotent), keys create, serve, create and get an
// event, and a revoke seen by the running server.
func TestDynamoDB_TablesKeysAndServe(t *testing.T) {
	ep := dynamoEndpoint(t)
	stage := fmt.Sprintf("cli%d", time.Now().UnixNano())
	env := map[string]string{"TRIGGERS_DYNAMODB_ENDPOINT": ep, "TRIGGERS_STAGE": stage, "TRIGGERS_STORE": "dynamodb"}

	code, out, errOut := runCLI(t, env, "tables", "create")
	if code != 0 || !strings.Contains(out, "triggers-api-events-"+stage) {
		t.Fatalf("tables create = %d %q %q", code, out, errOut)
	}
	code, out, _ = runCLI(t, env, "tables", "create")
	if code != 0 || !strings.Contains(out, "created [], already there [triggers-api-events-"+stage) {
		t.Fatalf("tables create again = %d %q, want everything already there", code, out)
	}

	code, out, errOut = runCLI(t, env, "keys", "create", "--tenant", "dyn", "--json")
	if code != 0 {
		t.Fatalf("keys create on dynamodb = %d %s", code, errOut)
	}
	var k struct {
		Key   string `json:"key"`
		KeyID string `json:"key_id"`
	}
	json.Unmarshal([]byte(out), &k)

	s := startServer(t, t.TempDir(), "--store", "dynamodb", "--stage", stage, "--dynamodb-endpoint", ep)
	req, _ := http.NewRequest("POST", s.url+"/v1/events", strings.NewReader(`{"source":"a","event_type":"b","payload":{"n":1}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", k.Key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		EventID string `json:"event_id"`
	}
	json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("create on dynamodb = %d", resp.StatusCode)
	}
	if st := get(t, s.url+"/v1/events/"+created.EventID, k.Key); st != 200 {
		t.Fatalf("get on dynamodb = %d", st)
	}
	if code, _, errOut := runCLI(t, env, "keys", "revoke", k.KeyID); code != 0 {
		t.Fatalf("keys revoke = %d %s", code, errOut)
	}
	revoked := time.Now()
	for get(t, s.url+"/v1/inbox", k.Key) != 401 {
		if time.Since(revoked) > 5*time.Second {
			t.Fatal("revoked key still works after 5 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestServe_UnknownStore(t *testing.T) {
	code, _, errOut := runCLI(t, map[string]string{}, "serve", "--store", "mongodb")
	if code != 2 || !strings.Contains(errOut, "mongodb") {
		t.Fatalf("serve --store mongodb = %d %q, want exit 2 naming it", code, errOut)
	}
}
