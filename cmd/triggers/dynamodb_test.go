package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/triggersapi/triggers/internal/teststore"
)

// TestDynamoDB_TablesKeysAndServe runs the real binary on the DynamoDB store:
// tables create (twice: idempotent), keys create, serve, create and get an
// event, and a revoke seen by the running server.
func TestDynamoDB_TablesKeysAndServe(t *testing.T) {
	ep := teststore.MustEndpoint(t)
	stage := teststore.EmptyStage(t, teststore.MustClient(t), "cli")
	env := map[string]string{"TRIGGERS_DYNAMODB_ENDPOINT": ep, "TRIGGERS_STAGE": stage, "TRIGGERS_STORE": "dynamodb"}

	code, out, errOut := runCLI(t, env, "tables", "create")
	if code != 0 || !strings.Contains(out, "triggers-api-events-"+stage) {
		t.Fatalf("tables create = %d %q %q", code, out, errOut)
	}
	code, out, _ = runCLI(t, env, "tables", "create")
	if code != 0 || !strings.Contains(out, "created [], already there [triggers-api-events-"+stage) {
		t.Fatalf("tables create again = %d %q, want everything already there", code, out)
	}

	key, id := createKey(t, env, "--tenant", "dyn")

	s := startServer(t, t.TempDir(), "--store", "dynamodb", "--stage", stage, "--dynamodb-endpoint", ep)
	req, _ := http.NewRequest("POST", s.url+"/v1/events", strings.NewReader(`{"source":"a","event_type":"b","payload":{"n":1}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", key)
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
	if st := get(t, s.url+"/v1/events/"+created.EventID, key); st != 200 {
		t.Fatalf("get on dynamodb = %d", st)
	}
	revokeAndWait(t, env, s.url, key, id)
}

func TestServe_UnknownStore(t *testing.T) {
	code, _, errOut := runCLI(t, map[string]string{}, "serve", "--store", "mongodb")
	if code != 2 || !strings.Contains(errOut, "mongodb") {
		t.Fatalf("serve --store mongodb = %d %q, want exit 2 naming it", code, errOut)
	}
}

// TestDynamoDB_RateLimitBurstAcrossTwoProcesses sends a burst of 3L
// concurrent requests of one idle key, split across two server processes
// sharing the DynamoDB store: L are admitted, plus at most what refills
// while the burst lasts.
func TestDynamoDB_RateLimitBurstAcrossTwoProcesses(t *testing.T) {
	ep := teststore.MustEndpoint(t)
	stage := teststore.EmptyStage(t, teststore.MustClient(t), "rl")
	env := map[string]string{"TRIGGERS_DYNAMODB_ENDPOINT": ep, "TRIGGERS_STAGE": stage, "TRIGGERS_STORE": "dynamodb"}
	if code, _, errOut := runCLI(t, env, "tables", "create"); code != 0 {
		t.Fatalf("tables create = %d %s", code, errOut)
	}
	const limit = 30
	key, _ := createKey(t, env, "--tenant", "burst", "--rate-limit", fmt.Sprint(limit))
	args := []string{"--store", "dynamodb", "--stage", stage, "--dynamodb-endpoint", ep, "--log-level", "warn"}
	servers := []*server{startServer(t, t.TempDir(), args...), startServer(t, t.TempDir(), args...)}

	statuses := make([]int, 3*limit)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range statuses {
		wg.Go(func() { statuses[i] = get(t, servers[i%2].url+"/v1/inbox", key) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	admitted, limited := 0, 0
	for _, st := range statuses {
		switch st {
		case 200:
			admitted++
		case 429:
			limited++
		default:
			t.Fatalf("burst status %d, want 200 or 429", st)
		}
	}
	refill := int(elapsed.Seconds()*limit/60) + 1
	t.Logf("burst of %d over two processes in %v: %d admitted, %d limited (limit %d, refill allowance %d)",
		len(statuses), elapsed.Round(time.Millisecond), admitted, limited, limit, refill)
	if admitted < limit || admitted > limit+refill {
		t.Fatalf("admitted %d of a burst of %d with limit %d in %v; want %d to %d", admitted, len(statuses), limit, elapsed, limit, limit+refill)
	}
}
