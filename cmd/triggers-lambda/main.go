// Command triggers-lambda serves the Triggers API on AWS Lambda behind API
// Gateway: REST APIs (payload v1, APIGatewayProxyRequest) and HTTP APIs
// (payload v2, APIGatewayV2HTTPRequest) with one binary.
//
// It is configured with the environment variables of `triggers serve`:
// TRIGGERS_STORE (default dynamodb here; sqlite is refused, a Lambda's
// filesystem is not shared), TRIGGERS_STAGE, TRIGGERS_DYNAMODB_ENDPOINT,
// TRIGGERS_RETENTION, TRIGGERS_CORS_ORIGINS, TRIGGERS_LOG_LEVEL and the
// rate-limit variables, parsed by app.ConfigFromEnv exactly as `triggers
// serve` parses them. TRIGGERS_TRUSTED_PROXIES and TRIGGERS_DEV_KEY are
// ignored. It creates no
// tables: the SAM template (deploy/template.yaml) does.
//
// The same binary is the scheduled webhook dispatcher (DESIGN §11.2) when
// TRIGGERS_LAMBDA_ROLE=dispatcher: invoked by an EventBridge schedule
// every minute, it delivers due webhooks until StopBeforeDeadline before
// the invocation's deadline (dispatch.Dispatcher.RunUntil), then returns.
// The role is chosen by the variable, not guessed from the event, so that
// each function does only what its IAM policy and timeout were made for:
// the API function refuses a scheduled event, the dispatcher an HTTP one.
// TRIGGERS_WEBHOOK_CONCURRENCY, TRIGGERS_WEBHOOK_ALLOW_INSECURE and
// TRIGGERS_WEBHOOK_ALLOW_PRIVATE apply as in `triggers serve`.
//
// Build: GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -o build/bootstrap ./cmd/triggers-lambda
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
	"github.com/triggersapi/triggers/dispatch"
	"github.com/triggersapi/triggers/internal/app"
	"github.com/triggersapi/triggers/internal/version"
)

func main() {
	if err := run(); err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("triggers-lambda: cannot start", slog.Any("error", err))
		os.Exit(1)
	}
}

// run builds the app from the environment and serves Lambda invocations;
// it returns only when it cannot start.
func run() error {
	cfg, err := app.ConfigFromEnv(os.Getenv, "dynamodb")
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	if cfg, err = lambdaRules(cfg, logger); err != nil {
		return err
	}
	role, err := lambdaRole(os.Getenv)
	if err != nil {
		return err
	}
	a, err := app.Open(cfg, logger)
	if err != nil {
		return err
	}
	logger.Info("triggers-lambda ready", slog.String("role", role), slog.String("store", cfg.Store), slog.String("stage", cfg.Stage),
		slog.String("version", version.String()))
	if role == roleDispatcher {
		if a.Dispatcher == nil {
			return errors.New("TRIGGERS_LAMBDA_ROLE=dispatcher: no webhook dispatcher (TRIGGERS_WEBHOOK_DISPATCHER=false, or a store without webhooks)")
		}
		lambda.Start(newDispatcherHandler(a.Dispatcher, logger))
		return nil
	}
	lambda.Start(newHandler(a.Server.Handler()))
	return nil
}

// The roles of the function (TRIGGERS_LAMBDA_ROLE).
const (
	roleAPI        = "api"
	roleDispatcher = "dispatcher"
)

// lambdaRole reads TRIGGERS_LAMBDA_ROLE: "api" (the default) or
// "dispatcher".
func lambdaRole(getenv func(string) string) (string, error) {
	switch r := getenv("TRIGGERS_LAMBDA_ROLE"); r {
	case "", roleAPI:
		return roleAPI, nil
	case roleDispatcher:
		return r, nil
	default:
		return "", fmt.Errorf("TRIGGERS_LAMBDA_ROLE: %q is not a role (known: api, dispatcher)", r)
	}
}

// runner is what the dispatcher handler runs: *dispatch.Dispatcher.
type runner interface {
	RunUntil(ctx context.Context, deadline time.Time) error
}

// dispatchResult is what the dispatcher handler returns: when it stopped.
type dispatchResult struct {
	Deadline time.Time `json:"deadline"`
	Stopped  time.Time `json:"stopped"`
}

// newDispatcherHandler returns the Lambda handler of the dispatcher role:
// for each EventBridge scheduled event, it runs r until the invocation's
// deadline (Lambda's timeout) is near.
func newDispatcherHandler(r runner, logger *slog.Logger) func(ctx context.Context, raw json.RawMessage) (any, error) {
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var ev events.EventBridgeEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("triggers-lambda dispatcher: event is not a JSON object: %w", err)
		}
		if ev.Source != "aws.events" || ev.DetailType != "Scheduled Event" {
			return nil, errors.New("triggers-lambda dispatcher: unsupported event: not an EventBridge scheduled event " +
				"(TRIGGERS_LAMBDA_ROLE=dispatcher serves only its schedule)")
		}
		deadline, ok := ctx.Deadline()
		if !ok {
			return nil, errors.New("triggers-lambda dispatcher: the invocation has no deadline")
		}
		if time.Until(deadline) <= dispatch.StopBeforeDeadline {
			logger.Warn("webhook dispatcher: the function's timeout leaves no time to claim deliveries; give it more than "+
				dispatch.StopBeforeDeadline.String(), slog.Duration("left", time.Until(deadline)))
		}
		if err := r.RunUntil(ctx, deadline); err != nil {
			return nil, fmt.Errorf("triggers-lambda dispatcher: %w", err)
		}
		return dispatchResult{Deadline: deadline.UTC(), Stopped: time.Now().UTC()}, nil
	}
}

// lambdaConfig reads the configuration from the environment, as run does.
func lambdaConfig(getenv func(string) string, logger *slog.Logger) (app.Config, error) {
	cfg, err := app.ConfigFromEnv(getenv, "dynamodb")
	if err != nil {
		return app.Config{}, err
	}
	return lambdaRules(cfg, logger)
}

// lambdaRules applies the Lambda rules to a configuration read from the
// environment: DynamoDB by default, SQLite refused, no trusted proxies, no
// dev key, no table creation.
func lambdaRules(cfg app.Config, logger *slog.Logger) (app.Config, error) {
	if cfg.Store == "sqlite" {
		return app.Config{}, errors.New("TRIGGERS_STORE=sqlite cannot run on Lambda: each instance has its own " +
			"ephemeral filesystem, so events and keys would not be shared; use TRIGGERS_STORE=dynamodb")
	}
	// The client IP on Lambda is API Gateway's source IP, which the adapter
	// puts in r.RemoteAddr (v1: requestContext.identity.sourceIp, v2:
	// requestContext.http.sourceIp). No proxy is trusted, so X-Forwarded-For
	// and X-Real-IP are never read: whatever a client writes there (and the
	// adapter splits header values on ",") cannot change its client IP.
	if len(cfg.TrustedProxies) > 0 {
		logger.Warn("TRIGGERS_TRUSTED_PROXIES is ignored on Lambda: the client IP is API Gateway's source IP")
		cfg.TrustedProxies = nil
	}
	if cfg.DevKey != "" {
		logger.Warn("TRIGGERS_DEV_KEY is ignored on Lambda: create keys with `triggers keys create --store dynamodb`")
		cfg.DevKey = ""
	}
	cfg.CreateTables = false
	return cfg, nil
}

// eventShape is what newHandler reads of an event to tell the payload
// versions apart.
type eventShape struct {
	Version    string `json:"version"`    // "2.0" for HTTP API v2 (REST and HTTP API v1 payloads: absent or "1.0")
	HTTPMethod string `json:"httpMethod"` // v1 only
}

// newHandler returns the Lambda handler serving h: it inspects the raw event
// and passes it to the API Gateway v1 or v2 adapter, returning the matching
// response type (events.APIGatewayProxyResponse or
// events.APIGatewayV2HTTPResponse).
func newHandler(h http.Handler) func(ctx context.Context, raw json.RawMessage) (any, error) {
	v1 := httpadapter.New(h)
	v2 := httpadapter.NewV2(h)
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var shape eventShape
		if err := json.Unmarshal(raw, &shape); err != nil {
			return nil, fmt.Errorf("triggers-lambda: event is not a JSON object: %w", err)
		}
		switch {
		case shape.Version == "2.0":
			var ev events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, fmt.Errorf("triggers-lambda: HTTP API v2 event: %w", err)
			}
			return v2.ProxyWithContext(ctx, ev)
		case shape.HTTPMethod != "":
			var ev events.APIGatewayProxyRequest
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, fmt.Errorf("triggers-lambda: API Gateway v1 event: %w", err)
			}
			return v1.ProxyWithContext(ctx, ev)
		default:
			return nil, errors.New("triggers-lambda: unsupported event: not an API Gateway REST (v1) or HTTP API (v2) proxy event")
		}
	}
}
