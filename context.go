package triggers

import "context"

type keyContextKey struct{}

// NewContextWithKey returns a context carrying the authenticated API key.
func NewContextWithKey(ctx context.Context, k APIKey) context.Context {
	return context.WithValue(ctx, keyContextKey{}, k)
}

// KeyFromContext returns the authenticated API key, if any.
func KeyFromContext(ctx context.Context) (APIKey, bool) {
	k, ok := ctx.Value(keyContextKey{}).(APIKey)
	return k, ok
}
