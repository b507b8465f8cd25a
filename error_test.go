package triggers_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/triggersapi/triggers"
)

func TestErrorCode(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want triggers.Code
	}{
		{"Nil", nil, ""},
		{"Error", triggers.Errorf(triggers.ENOTFOUND, "no such event"), triggers.ENOTFOUND},
		{"Wrapped", fmt.Errorf("store: %w", triggers.Errorf(triggers.ECONFLICT, "acked")), triggers.ECONFLICT},
		{"Joined", errors.Join(errors.New("x"), triggers.Errorf(triggers.EINVALID, "bad")), triggers.EINVALID},
		{"Plain", errors.New("disk on fire"), triggers.EINTERNAL},
		{"Unavailable", triggers.Unavailable(errors.New("timeout")), triggers.EUNAVAILABLE},
		{"InvalidFields", triggers.InvalidFields(triggers.FieldError{Field: "f", Message: "m"}), triggers.EINVALID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := triggers.ErrorCode(tt.err); got != tt.want {
				t.Errorf("ErrorCode(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"Error", triggers.Errorf(triggers.ENOTFOUND, "event %s not found", "x"), "event x not found"},
		{"Wrapped", fmt.Errorf("store: %w", triggers.Errorf(triggers.ECONFLICT, "already acknowledged")), "already acknowledged"},
		{"Plain", errors.New("open /var/lib/secret.db: permission denied"), "internal error"},
		{"Internal", triggers.Errorf(triggers.EINTERNAL, "sql: column 7 overflow"), "internal error"},
		{"Unavailable", triggers.Unavailable(errors.New("dial tcp 10.0.0.1:8000: refused")), "the store is unavailable, retry later"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := triggers.ErrorMessage(tt.err); got != tt.want {
				t.Errorf("ErrorMessage(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestError_Error(t *testing.T) {
	cause := errors.New("disk full")
	e := &triggers.Error{Code: triggers.EUNAVAILABLE, Message: "retry", Err: cause}
	if got, want := e.Error(), "triggers: SERVICE_UNAVAILABLE: retry: disk full"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(e, cause) {
		t.Errorf("errors.Is(%v, cause) = false, want true", e)
	}
	if got, want := triggers.Errorf(triggers.EINVALID, "bad %d", 1).Error(), "triggers: VALIDATION_ERROR: bad 1"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if u := triggers.Unavailable(cause); !errors.Is(u, cause) {
		t.Errorf("errors.Is(Unavailable(cause), cause) = false, want true")
	}
}

func TestInvalidFields(t *testing.T) {
	a := triggers.FieldError{Field: "source", Message: "is required"}
	b := triggers.FieldError{Field: "payload", Message: "must be a non-empty JSON object"}
	c := triggers.FieldError{Field: "metadata.priority", Message: "must be one of"}
	for _, tt := range []struct {
		name   string
		fields []triggers.FieldError
		want   string
	}{
		{"OKOne", []triggers.FieldError{a}, "source: is required"},
		{"OKTwo", []triggers.FieldError{a, b}, "source: is required (and 1 more)"},
		{"OKThree", []triggers.FieldError{a, b, c}, "source: is required (and 2 more)"},
		{"OKNone", nil, "request is invalid"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := triggers.InvalidFields(tt.fields...)
			if err.Code != triggers.EINVALID || err.Message != tt.want {
				t.Errorf("InvalidFields(%v) = %s %q, want %s %q", tt.fields, err.Code, err.Message, triggers.EINVALID, tt.want)
			}
			if got := err.Details["fields"]; !reflect.DeepEqual(got, tt.fields) && len(tt.fields) > 0 {
				t.Errorf("InvalidFields(%v).Details[fields] = %v, want the fields", tt.fields, got)
			}
		})
	}
}
