package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/dispatch"
	"github.com/triggersapi/triggers/internal/app"
	"github.com/triggersapi/triggers/internal/teststore"
	"github.com/triggersapi/triggers/webhook"
)

// fakeRunner records the deadlines it is run until.
type fakeRunner struct{ deadlines []time.Time }

func (f *fakeRunner) RunUntil(_ context.Context, deadline time.Time) error {
	f.deadlines = append(f.deadlines, deadline)
	return nil
}

func TestLambdaRole(t *testing.T) {
	for _, c := range []struct{ env, want string }{{"", "api"}, {"api", "api"}, {"dispatcher", "dispatcher"}, {"worker", ""}} {
		got, err := lambdaRole(env(map[string]string{"TRIGGERS_LAMBDA_ROLE": c.env}))
		if got != c.want || (err != nil) != (c.want == "") {
			t.Errorf("TRIGGERS_LAMBDA_ROLE=%q: %q, %v; want %q", c.env, got, err, c.want)
		}
	}
}

// TestDispatcherHandler_ScheduledEvent: a scheduled event runs the
// dispatcher until the invocation's deadline, and the answer marshals.
func TestDispatcherHandler_ScheduledEvent(t *testing.T) {
	r := &fakeRunner{}
	h := newDispatcherHandler(r, slog.New(slog.DiscardHandler))
	deadline := time.Now().Add(80 * time.Second)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	out, err := h(ctx, fixture(t, "scheduled_event.json"))
	if err != nil {
		t.Fatalf("handler = %v", err)
	}
	if len(r.deadlines) != 1 || !r.deadlines[0].Equal(deadline) {
		t.Fatalf("RunUntil deadlines = %v, want [%v]", r.deadlines, deadline)
	}
	if _, err := json.Marshal(out); err != nil {
		t.Fatalf("answer does not marshal: %v", err)
	}
}

// TestDispatcherHandler_RefusesOtherEvents: the dispatcher role serves only
// its schedule: an API Gateway event, another EventBridge event or junk is
// an error, and nothing runs.
func TestDispatcherHandler_RefusesOtherEvents(t *testing.T) {
	r := &fakeRunner{}
	h := newDispatcherHandler(r, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	other := strings.Replace(string(fixture(t, "scheduled_event.json")), `"Scheduled Event"`, `"EC2 Instance State-change Notification"`, 1)
	for name, raw := range map[string]json.RawMessage{"HTTPAPIv2": fixture(t, "v2_inbox.json"),
		"RESTv1": fixture(t, "v1_inbox.json"), "OtherEventBridge": json.RawMessage(other), "NotJSON": json.RawMessage(`[`)} {
		if _, err := h(ctx, raw); err == nil {
			t.Errorf("%s: handler accepted it", name)
		}
	}
	if len(r.deadlines) != 0 {
		t.Fatalf("RunUntil ran %d times on events that are not the schedule", len(r.deadlines))
	}
	// And the API handler refuses the schedule.
	if _, err := newTestHandler(t)(ctx, fixture(t, "scheduled_event.json")); err == nil {
		t.Error("the API handler accepted a scheduled event")
	}
}

// TestDispatcherHandler_DeliversOnDynamoDB runs the dispatcher role as
// Lambda would, from the environment, on DynamoDB (dynalite), with the
// sample scheduled event: a due delivery reaches a loopback receiver,
// signed. It needs the DynamoDB store's WebhookStore (branch
// webhook-dynamodb); until then it is skipped, except with CI=true.
func TestDispatcherHandler_DeliversOnDynamoDB(t *testing.T) {
	client := teststore.MustClient(t)
	stage := teststore.MustStage(t, client, "lambda-dispatch")
	logger := slog.New(slog.DiscardHandler)
	cfg, err := lambdaConfig(env(map[string]string{"TRIGGERS_STAGE": stage,
		"TRIGGERS_DYNAMODB_ENDPOINT":      os.Getenv("TRIGGERS_DYNAMODB_ENDPOINT"),
		"TRIGGERS_WEBHOOK_ALLOW_INSECURE": "true", "TRIGGERS_WEBHOOK_ALLOW_PRIVATE": "true"}), logger)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.Dispatcher == nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the DynamoDB store has no WebhookStore: no dispatcher")
		}
		t.Skip("the DynamoDB store does not implement triggers.WebhookStore yet (branch webhook-dynamodb)")
	}
	type delivery struct {
		header http.Header
		body   []byte
	}
	got := make(chan delivery, 10)
	rv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- delivery{r.Header.Clone(), b}
	}))
	defer rv.Close()
	ctx := context.Background()
	sub, err := a.Service.CreateSubscription(ctx, "acme", []byte(`{"url":"`+rv.URL+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	ne, err := triggers.ParseNewEvent([]byte(`{"source":"s","event_type":"t","payload":{"n":1.50}}`), "", "")
	if err != nil {
		t.Fatal(err)
	}
	created, err := a.Service.CreateEvent(ctx, "acme", ne)
	if err != nil {
		t.Fatal(err)
	}
	// Two seconds of claiming: the invocation's deadline, less the time
	// the dispatcher keeps to finish.
	ictx, cancel := context.WithTimeout(ctx, dispatch.StopBeforeDeadline+2*time.Second)
	defer cancel()
	if _, err := newDispatcherHandler(a.Dispatcher, logger)(ictx, fixture(t, "scheduled_event.json")); err != nil {
		t.Fatalf("handler = %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("receiver got %d deliveries, want 1", len(got))
	}
	d := <-got
	if d.header.Get(webhook.HeaderID) != created.Event.ID {
		t.Errorf("webhook-id = %q, want %s", d.header.Get(webhook.HeaderID), created.Event.ID)
	}
	if err := webhook.Verify(sub.Secret, d.header, d.body); err != nil {
		t.Errorf("webhook.Verify() = %v", err)
	}
}
