package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Table names of a stage.
func EventsTable(stage string) string      { return "triggers-api-events-" + stage }
func KeysTable(stage string) string        { return "triggers-api-keys-" + stage }
func IdempotencyTable(stage string) string { return "triggers-api-idempotency-" + stage }
func RateLimitsTable(stage string) string  { return "triggers-api-rate-limits-" + stage }
func WebhooksTable(stage string) string    { return "triggers-api-webhooks-" + stage }

// InboxIndex is the events table's sparse index of pending events.
const InboxIndex = "inbox"

// The indexes of push delivery (see the package doc, Webhooks).
const (
	// TimelineIndex is the events table's index of every event by
	// timeline_key and created_at: timeline_key is "outbox#" + tenant until
	// the event's deliveries are written (the outbox), then the tenant.
	TimelineIndex = "timeline"
	// DueIndex is the webhooks table's sparse index of pending deliveries by
	// shard and the instant they are due.
	DueIndex = "due"
)

// eventMatchAttrs are the attributes the timeline index projects: what Subscription.Matches reads of an event.
var eventMatchAttrs = []string{"id", "source", "event_type", "priority", "metadata"}

// Table is the definition of one table: how to create it, and the attribute
// DynamoDB's TTL reads ("" for none).
type Table struct {
	Create       dynamodb.CreateTableInput
	TTLAttribute string
}

// TableDefinitions returns the five tables of a stage, as CreateTables creates
// them (and as deploy templates must declare them).
func TableDefinitions(stage string) []Table {
	s := func(name string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: types.ScalarAttributeTypeS}
	}
	n := func(name string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: types.ScalarAttributeTypeN}
	}
	hash := func(name string) types.KeySchemaElement {
		return types.KeySchemaElement{AttributeName: aws.String(name), KeyType: types.KeyTypeHash}
	}
	rng := func(name string) types.KeySchemaElement {
		return types.KeySchemaElement{AttributeName: aws.String(name), KeyType: types.KeyTypeRange}
	}
	return []Table{
		{
			Create: dynamodb.CreateTableInput{
				TableName:   aws.String(EventsTable(stage)),
				BillingMode: types.BillingModePayPerRequest,
				AttributeDefinitions: []types.AttributeDefinition{s("pk"), s("inbox_tenant"), s("created_at_id"),
					s("timeline_key"), n("created_at")},
				KeySchema: []types.KeySchemaElement{hash("pk")},
				GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
					IndexName:  aws.String(InboxIndex),
					KeySchema:  []types.KeySchemaElement{hash("inbox_tenant"), rng("created_at_id")},
					Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
				}, {
					IndexName:  aws.String(TimelineIndex),
					KeySchema:  []types.KeySchemaElement{hash("timeline_key"), rng("created_at")},
					Projection: &types.Projection{ProjectionType: types.ProjectionTypeInclude, NonKeyAttributes: eventMatchAttrs},
				}},
			},
			TTLAttribute: "ttl",
		},
		{
			Create: dynamodb.CreateTableInput{
				TableName:            aws.String(KeysTable(stage)),
				BillingMode:          types.BillingModePayPerRequest,
				AttributeDefinitions: []types.AttributeDefinition{s("hash")},
				KeySchema:            []types.KeySchemaElement{hash("hash")},
			},
		},
		{
			Create: dynamodb.CreateTableInput{
				TableName:            aws.String(IdempotencyTable(stage)),
				BillingMode:          types.BillingModePayPerRequest,
				AttributeDefinitions: []types.AttributeDefinition{s("pk")},
				KeySchema:            []types.KeySchemaElement{hash("pk")},
			},
			TTLAttribute: "ttl",
		},
		{
			Create: dynamodb.CreateTableInput{
				TableName:            aws.String(RateLimitsTable(stage)),
				BillingMode:          types.BillingModePayPerRequest,
				AttributeDefinitions: []types.AttributeDefinition{s("api_key"), n("window_start")},
				KeySchema:            []types.KeySchemaElement{hash("api_key"), rng("window_start")},
			},
			TTLAttribute: "ttl",
		},
		{
			Create: dynamodb.CreateTableInput{
				TableName:            aws.String(WebhooksTable(stage)),
				BillingMode:          types.BillingModePayPerRequest,
				AttributeDefinitions: []types.AttributeDefinition{s("pk"), s("sk"), s("due_shard"), n("due_at")},
				KeySchema:            []types.KeySchemaElement{hash("pk"), rng("sk")},
				GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
					IndexName:  aws.String(DueIndex),
					KeySchema:  []types.KeySchemaElement{hash("due_shard"), rng("due_at")},
					Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly},
				}},
			},
			TTLAttribute: "ttl",
		},
	}
}

// TablesReport says what CreateTables did.
type TablesReport struct {
	Created  []string // tables created now
	Existing []string // tables that were there already
	// Warnings are problems that did not stop the tables from working, such
	// as a server without TTL support (dynalite).
	Warnings []string
}

// CreateTables creates the tables of stage that are missing, waits until they
// are active and enables TTL on them. It is idempotent. A server that cannot
// enable TTL (dynalite) gives a warning in the report, not an error.
func CreateTables(ctx context.Context, client *dynamodb.Client, stage string) (*TablesReport, error) {
	if err := ValidateStage(stage); err != nil {
		return nil, err
	}
	rep := &TablesReport{}
	for _, t := range TableDefinitions(stage) {
		name := aws.ToString(t.Create.TableName)
		in := t.Create
		_, err := client.CreateTable(ctx, &in)
		var inUse *types.ResourceInUseException
		switch {
		case err == nil:
			rep.Created = append(rep.Created, name)
		case errors.As(err, &inUse):
			rep.Existing = append(rep.Existing, name)
		default:
			return rep, fmt.Errorf("dynamodb: create table %s: %w", name, err)
		}
		if err := waitActive(ctx, client, name); err != nil {
			return rep, err
		}
		if t.TTLAttribute != "" {
			if w := enableTTL(ctx, client, name, t.TTLAttribute); w != "" {
				rep.Warnings = append(rep.Warnings, w)
			}
		}
	}
	return rep, nil
}

// enableTTL turns TTL on, returning a warning when it cannot.
func enableTTL(ctx context.Context, client *dynamodb.Client, table, attr string) string {
	d, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err == nil && d.TimeToLiveDescription != nil {
		switch d.TimeToLiveDescription.TimeToLiveStatus {
		case types.TimeToLiveStatusEnabled, types.TimeToLiveStatusEnabling:
			if aws.ToString(d.TimeToLiveDescription.AttributeName) == attr {
				return ""
			}
		}
	}
	_, err = client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(attr), Enabled: aws.Bool(true),
		},
	})
	if err != nil {
		return fmt.Sprintf("table %s: could not enable TTL on %q (expired items are then only hidden, not removed, unless DeleteExpired runs): %v", table, attr, err)
	}
	return ""
}

// waitActive polls until the table is ACTIVE (and its indexes too).
func waitActive(ctx context.Context, client *dynamodb.Client, table string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	delay := 20 * time.Millisecond
	for {
		d, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		if err != nil {
			return fmt.Errorf("dynamodb: describe table %s: %w", table, err)
		}
		active := d.Table.TableStatus == types.TableStatusActive
		for _, g := range d.Table.GlobalSecondaryIndexes {
			if g.IndexStatus != "" && g.IndexStatus != types.IndexStatusActive {
				active = false
			}
		}
		if active {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("dynamodb: table %s did not become active: %w", table, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*2, 2*time.Second)
	}
}

// DeleteTables deletes the tables of stage that exist (for tests and
// tearing down a stage). It does not wait for the deletion to finish.
func DeleteTables(ctx context.Context, client *dynamodb.Client, stage string) error {
	if err := ValidateStage(stage); err != nil {
		return err
	}
	var errs []error
	for _, t := range TableDefinitions(stage) {
		_, err := client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: t.Create.TableName})
		var rnf *types.ResourceNotFoundException
		if err != nil && !errors.As(err, &rnf) {
			errs = append(errs, fmt.Errorf("dynamodb: delete table %s: %w", aws.ToString(t.Create.TableName), err))
		}
	}
	return errors.Join(errs...)
}
