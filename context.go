package triggers

import "context"

type keyContextKey struct{}

// NewContextWithKey returns a copy of ctx carrying k, the API key a request
// was authenticated with. The HTTP server's authentication stage puts it
// there, so that the stages after it (IP allowlist, rate limit) and the
// handler read the one key that was checked.
func NewContextWithKey(ctx context.Context, k APIKey) context.Context {
	return context.WithValue(ctx, keyContextKey{}, k)
}

// KeyFromContext returns the API key NewContextWithKey put in ctx; ok is
// false when there is none (the request was not authenticated).
func KeyFromContext(ctx context.Context) (k APIKey, ok bool) {
	k, ok = ctx.Value(keyContextKey{}).(APIKey)
	return k, ok
}
