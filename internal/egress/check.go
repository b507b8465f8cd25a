package egress

import (
	"context"
	"errors"
	"net/url"
)

// URLCheck returns the create-time check of a subscription's url
// (triggers.WebhookOptions.CheckURL, DESIGN §11.1): its form (CheckURL, with
// http:// only when allowInsecure) and its host (g.CheckHost). The error it
// returns is only the refusal's Reason, a sentence safe to show the tenant
// as the message of a 400 naming url; the cause (a resolver's error) stays
// out of the answer.
func (g *Guard) URLCheck(allowInsecure bool) func(ctx context.Context, u *url.URL) error {
	return func(ctx context.Context, u *url.URL) error {
		checked, err := CheckURL(u.String(), allowInsecure)
		if err == nil {
			err = g.CheckHost(ctx, checked.Hostname())
		}
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				return errors.New(e.Reason)
			}
			return err
		}
		return nil
	}
}
