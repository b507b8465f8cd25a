package deploy_test

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/triggersapi/triggers/dispatch"
	"github.com/triggersapi/triggers/dynamodb"
	"go.yaml.in/yaml/v4"
)

// tree converts a YAML node to plain values: maps, slices and strings. A
// CloudFormation short-form tag (!Sub x, !GetAtt A.B, !Ref x) becomes its
// long form ({"Fn::Sub": x}, {"Fn::GetAtt": "A.B"}, {"Ref": x}).
func tree(t *testing.T, n *yaml.Node) any {
	t.Helper()
	var v any
	switch n.Kind {
	case yaml.DocumentNode:
		return tree(t, n.Content[0])
	case yaml.AliasNode:
		return tree(t, n.Alias)
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = tree(t, n.Content[i+1])
		}
		v = m
	case yaml.SequenceNode:
		s := []any{}
		for _, c := range n.Content {
			s = append(s, tree(t, c))
		}
		v = s
	case yaml.ScalarNode:
		v = n.Value
	default:
		t.Fatalf("line %d: unexpected YAML node kind %v", n.Line, n.Kind)
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		name := strings.TrimPrefix(n.Tag, "!")
		if name != "Ref" && name != "Condition" {
			name = "Fn::" + name
		}
		return map[string]any{name: v}
	}
	return v
}

func loadTemplate(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	m, ok := tree(t, &doc).(map[string]any)
	if !ok {
		t.Fatal("template.yaml is not a mapping")
	}
	return m
}

// get walks a path of map keys.
func get(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func str(v any) string { s, _ := v.(string); return s }

func list(v any) []any { s, _ := v.([]any); return s }

// table is a table definition reduced to what the template and the code
// must agree on.
type table struct {
	Name        string
	BillingMode string
	Attributes  []string // "name:TYPE", sorted
	Keys        []string // "name:HASH", "name:RANGE", in order
	Indexes     []string // "name keys... projection", sorted
	TTL         string
}

func fromCode(d dynamodb.Table) table {
	in := d.Create
	tb := table{Name: aws.ToString(in.TableName), BillingMode: string(in.BillingMode), TTL: d.TTLAttribute}
	for _, a := range in.AttributeDefinitions {
		tb.Attributes = append(tb.Attributes, aws.ToString(a.AttributeName)+":"+string(a.AttributeType))
	}
	for _, k := range in.KeySchema {
		tb.Keys = append(tb.Keys, aws.ToString(k.AttributeName)+":"+string(k.KeyType))
	}
	for _, g := range in.GlobalSecondaryIndexes {
		s := aws.ToString(g.IndexName)
		for _, k := range g.KeySchema {
			s += " " + aws.ToString(k.AttributeName) + ":" + string(k.KeyType)
		}
		if g.Projection != nil {
			s += " " + string(g.Projection.ProjectionType)
			for _, a := range g.Projection.NonKeyAttributes {
				s += " +" + a
			}
		}
		tb.Indexes = append(tb.Indexes, s)
	}
	slices.Sort(tb.Attributes)
	slices.Sort(tb.Indexes)
	return tb
}

func fromTemplate(t *testing.T, id string, props any, stage string) table {
	t.Helper()
	name := str(get(props, "TableName", "Fn::Sub"))
	if name == "" {
		name = str(get(props, "TableName"))
	}
	tb := table{Name: strings.ReplaceAll(name, "${Stage}", stage), BillingMode: str(get(props, "BillingMode"))}
	for _, a := range list(get(props, "AttributeDefinitions")) {
		tb.Attributes = append(tb.Attributes, str(get(a, "AttributeName"))+":"+str(get(a, "AttributeType")))
	}
	for _, k := range list(get(props, "KeySchema")) {
		tb.Keys = append(tb.Keys, str(get(k, "AttributeName"))+":"+str(get(k, "KeyType")))
	}
	for _, g := range list(get(props, "GlobalSecondaryIndexes")) {
		s := str(get(g, "IndexName"))
		for _, k := range list(get(g, "KeySchema")) {
			s += " " + str(get(k, "AttributeName")) + ":" + str(get(k, "KeyType"))
		}
		if p := get(g, "Projection"); p != nil {
			s += " " + str(get(p, "ProjectionType"))
			for _, a := range list(get(p, "NonKeyAttributes")) {
				s += " +" + str(a)
			}
		}
		tb.Indexes = append(tb.Indexes, s)
	}
	if ttl := get(props, "TimeToLiveSpecification"); ttl != nil {
		if str(get(ttl, "Enabled")) != "true" {
			t.Errorf("%s: TimeToLiveSpecification is not enabled", id)
		}
		tb.TTL = str(get(ttl, "AttributeName"))
	}
	slices.Sort(tb.Attributes)
	slices.Sort(tb.Indexes)
	return tb
}

// templateTables returns the template's DynamoDB tables by logical ID.
func templateTables(t *testing.T, tmpl map[string]any) map[string]any {
	t.Helper()
	out := map[string]any{}
	res, _ := tmpl["Resources"].(map[string]any)
	for id, r := range res {
		if str(get(r, "Type")) == "AWS::DynamoDB::Table" {
			out[id] = get(r, "Properties")
		}
	}
	return out
}

// TestTablesMatchCode checks that the template declares exactly the tables
// CreateTables creates: names, keys, attributes, indexes, billing and TTL.
func TestTablesMatchCode(t *testing.T) {
	tmpl := loadTemplate(t)
	if str(tmpl["Transform"]) != "AWS::Serverless-2016-10-31" {
		t.Errorf("Transform = %v", tmpl["Transform"])
	}
	const stage = "STAGE"
	got := map[string]table{}
	for id, props := range templateTables(t, tmpl) {
		tb := fromTemplate(t, id, props, stage)
		got[tb.Name] = tb
	}
	defs := dynamodb.TableDefinitions(stage)
	if len(got) != len(defs) {
		t.Errorf("template has %d tables, the code creates %d", len(got), len(defs))
	}
	for _, d := range defs {
		want := fromCode(d)
		tb, ok := got[want.Name]
		if !ok {
			t.Errorf("template has no table %s", want.Name)
			continue
		}
		if g, w := fmt.Sprintf("%+v", tb), fmt.Sprintf("%+v", want); g != w {
			t.Errorf("table %s differs:\ntemplate: %s\ncode:     %s", want.Name, g, w)
		}
	}
}

// TestFunction checks the function's runtime, environment and its IAM
// policy: only item actions, only on the four tables and the inbox index.
func TestFunction(t *testing.T) {
	tmpl := loadTemplate(t)
	fn := get(tmpl, "Resources", "TriggersFunction")
	if str(get(fn, "Type")) != "AWS::Serverless::Function" {
		t.Fatalf("TriggersFunction: type %v", get(fn, "Type"))
	}
	props := get(fn, "Properties")
	for k, want := range map[string]string{"Runtime": "provided.al2023", "Handler": "bootstrap"} {
		if got := str(get(props, k)); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if a := list(get(props, "Architectures")); len(a) != 1 || str(a[0]) != "arm64" {
		t.Errorf("Architectures = %v, want [arm64]", a)
	}
	vars := get(props, "Environment", "Variables")
	if str(get(vars, "TRIGGERS_STORE")) != "dynamodb" || str(get(vars, "TRIGGERS_STAGE", "Ref")) != "Stage" {
		t.Errorf("environment %v: want TRIGGERS_STORE=dynamodb, TRIGGERS_STAGE=!Ref Stage", vars)
	}
	if get(vars, "TRIGGERS_TRUSTED_PROXIES") != nil {
		t.Error("TRIGGERS_TRUSTED_PROXIES must not be set on Lambda")
	}
	apiEvents := 0
	for _, ev := range get(props, "Events").(map[string]any) {
		if str(get(ev, "Type")) == "HttpApi" {
			apiEvents++
		}
	}
	if apiEvents == 0 || str(get(tmpl, "Resources", "TriggersHttpApi", "Type")) != "AWS::Serverless::HttpApi" {
		t.Error("no HTTP API routes to the function")
	}

	allowed := []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
		"dynamodb:BatchWriteItem", "dynamodb:BatchGetItem", "dynamodb:Query"}
	wantRes := map[string]bool{"${EventsTable.Arn}/index/" + dynamodb.InboxIndex: false}
	for id := range templateTables(t, tmpl) {
		wantRes[id+".Arn"] = false
	}
	var actions []string
	for _, p := range list(get(props, "Policies")) {
		for _, st := range list(get(p, "Statement")) {
			if str(get(st, "Effect")) != "Allow" {
				continue
			}
			for _, a := range list(get(st, "Action")) {
				if !slices.Contains(allowed, str(a)) {
					t.Errorf("policy allows %v; the store needs only %v", a, allowed)
				}
				actions = append(actions, str(a))
			}
			for _, r := range list(get(st, "Resource")) {
				ref := str(get(r, "Fn::GetAtt"))
				if ref == "" {
					ref = str(get(r, "Fn::Sub"))
				}
				if _, ok := wantRes[ref]; !ok {
					t.Errorf("policy resource %v is not one of the stage's tables or the inbox index", r)
				}
				wantRes[ref] = true
			}
		}
	}
	for _, a := range allowed {
		if !slices.Contains(actions, a) {
			t.Errorf("policy does not allow %s, which the store uses", a)
		}
	}
	for r, seen := range wantRes {
		if !seen {
			t.Errorf("policy does not cover %s", r)
		}
	}
}

// TestDispatcherFunction checks the scheduled webhook dispatcher: the same
// binary in its dispatcher role, the API function's store settings and
// IAM policy exactly, an EventBridge schedule every minute and no API
// route, and a timeout that lets each invocation claim until the next one
// starts and still finish its attempts (dispatch.StopBeforeDeadline).
func TestDispatcherFunction(t *testing.T) {
	tmpl := loadTemplate(t)
	api := get(tmpl, "Resources", "TriggersFunction", "Properties")
	fn := get(tmpl, "Resources", "DispatcherFunction")
	if str(get(fn, "Type")) != "AWS::Serverless::Function" {
		t.Fatalf("DispatcherFunction: type %v", get(fn, "Type"))
	}
	props := get(fn, "Properties")
	for _, k := range []string{"Runtime", "Handler", "CodeUri", "Architectures", "Policies"} {
		if g, w := fmt.Sprint(get(props, k)), fmt.Sprint(get(api, k)); g != w {
			t.Errorf("%s = %s, want the API function's %s", k, g, w)
		}
	}
	vars := get(props, "Environment", "Variables")
	if str(get(vars, "TRIGGERS_LAMBDA_ROLE")) != "dispatcher" {
		t.Errorf("TRIGGERS_LAMBDA_ROLE = %v, want dispatcher", get(vars, "TRIGGERS_LAMBDA_ROLE"))
	}
	apiVars := get(api, "Environment", "Variables")
	for _, k := range []string{"TRIGGERS_STORE", "TRIGGERS_STAGE", "TRIGGERS_RETENTION"} {
		if g, w := fmt.Sprint(get(vars, k)), fmt.Sprint(get(apiVars, k)); g != w || get(vars, k) == nil {
			t.Errorf("%s = %s, want the API function's %s", k, g, w)
		}
	}
	events, _ := get(props, "Events").(map[string]any)
	if len(events) != 1 {
		t.Fatalf("events %v, want one schedule", events)
	}
	for name, ev := range events {
		if str(get(ev, "Type")) != "Schedule" || str(get(ev, "Properties", "Schedule")) != "rate(1 minute)" {
			t.Errorf("event %s = %v, want a Schedule rate(1 minute)", name, ev)
		}
	}
	timeout, err := strconv.Atoi(str(get(props, "Timeout")))
	if err != nil {
		t.Fatalf("Timeout = %v: %v", get(props, "Timeout"), err)
	}
	claiming := time.Duration(timeout)*time.Second - dispatch.StopBeforeDeadline
	if claiming < time.Minute || timeout > 900 {
		t.Errorf("Timeout = %ds: claims for %v; want at least the minute between invocations, and at most Lambda's 900 s",
			timeout, claiming)
	}
	if str(get(props, "EventInvokeConfig", "MaximumRetryAttempts")) != "0" {
		t.Error("a failed invocation is retried: the next minute's takes over, set EventInvokeConfig.MaximumRetryAttempts: 0")
	}
}
