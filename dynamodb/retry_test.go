package dynamodb_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/internal/teststore"
	"github.com/triggersapi/triggers/storetest"
)

// answerLost returns a copy of client that sends the first UpdateItem whose
// update expression contains marker twice, answering with the second reply:
// as when the first reply is lost and the SDK retries a write that was
// applied, whose condition then fails.
func answerLost(client *awsdynamodb.Client, marker string, done *atomic.Bool) *awsdynamodb.Client {
	return awsdynamodb.New(client.Options(), func(o *awsdynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("answerLost",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					p, ok := middleware.GetStackValue(ctx, paramsKey{}).(*awsdynamodb.UpdateItemInput)
					if !ok || p.UpdateExpression == nil || !strings.Contains(*p.UpdateExpression, marker) || done.Swap(true) {
						return next.HandleFinalize(ctx, in)
					}
					if _, _, err := next.HandleFinalize(ctx, in); err != nil {
						return middleware.FinalizeOutput{}, middleware.Metadata{}, err
					}
					req := in.Request.(*smithyhttp.Request)
					if err := req.RewindStream(); err != nil {
						return middleware.FinalizeOutput{}, middleware.Metadata{}, err
					}
					return next.HandleFinalize(ctx, in) // the retry: its answer is the one seen
				}), middleware.After)
		}, func(stack *middleware.Stack) error {
			return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("answerLostParams",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					return next.HandleInitialize(middleware.WithStackValue(ctx, paramsKey{}, in.Parameters), in)
				}), middleware.Before)
		})
	})
}

type paramsKey struct{}

// TestReceiveEvents_RetriedLeaseWriteIsKept: a lease write applied but
// whose answer was lost is retried by the SDK and fails its condition; the
// receive still returns the event it leased, instead of leaving it leased
// to nobody until the lease expires.
func TestReceiveEvents_RetriedLeaseWriteIsKept(t *testing.T) {
	base := teststore.MustClient(t)
	var done atomic.Bool
	s := mustOpenStage(t, base, answerLost(base, "lease_id = :lid", &done))
	now, nb := testTimes()
	e := storetest.MustInsert(t, s, triggers.Event{ID: triggers.NewEventID(now), Tenant: "a", Source: "s", EventType: "t",
		Payload: []byte(`{"n":1}`), Metadata: []byte(`{"priority":"normal"}`), Priority: triggers.PriorityNormal, CreatedAt: now})[0]
	got := mustReceive(t, s, receiveQuery(now, nb, 1))
	if !done.Load() {
		t.Fatal("the lease write was not sent twice: the test did not test anything")
	}
	if len(got.Events) != 1 || got.Events[0].ID != e.ID || got.Events[0].Attempts != 1 {
		t.Fatalf("receive whose lease write was retried = %+v, want %s leased (attempts 1)", got.Events, e.ID)
	}
}

// TestClaimDeliveries_RetriedClaimWriteIsKept: as for a receive, a claim
// whose write was applied but retried by the SDK returns the delivery.
func TestClaimDeliveries_RetriedClaimWriteIsKept(t *testing.T) {
	base := teststore.MustClient(t)
	var done atomic.Bool
	s := mustOpenStage(t, base, answerLost(base, "lease_id = :lid, lease_expires_at = :exp, due_at", &done))
	mustSubscribe(t, s, "a", webhookT0)
	e := storetest.MustInsert(t, s, hookEvents("a", 1, webhookT0)...)[0]
	got := claim(t, s, webhookT0.Add(time.Minute), 1)
	if !done.Load() {
		t.Fatal("the claim write was not sent twice: the test did not test anything")
	}
	if len(got) != 1 || got[0].EventID != e.ID {
		t.Fatalf("claim whose write was retried = %+v, want the delivery of %s", got, e.ID)
	}
}
