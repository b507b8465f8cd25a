package triggers_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/triggersapi/triggers"
)

// fieldNames returns the field names listed in the details of err, an
// *triggers.Error, or nil if it lists none.
func fieldNames(err error) []string {
	var e *triggers.Error
	if !errors.As(err, &e) {
		return nil
	}
	fields, _ := e.Details["fields"].([]triggers.FieldError)
	var names []string
	for _, f := range fields {
		names = append(names, f.Field)
	}
	return names
}

// checkCode fails tb unless err is an *triggers.Error with the code.
func checkCode(tb testing.TB, call string, err error, code triggers.Code) {
	tb.Helper()
	var e *triggers.Error
	if !errors.As(err, &e) {
		tb.Fatalf("%s: error = %v (%T), want a *triggers.Error with code %s", call, err, err, code)
	}
	if e.Code != code {
		tb.Fatalf("%s: code = %s, want %s (error %v)", call, e.Code, code, err)
	}
}

// checkInvalidFields fails tb unless err is an EINVALID error whose details
// name exactly the fields, in order.
func checkInvalidFields(tb testing.TB, call string, err error, fields ...string) {
	tb.Helper()
	checkCode(tb, call, err, triggers.EINVALID)
	if got := fieldNames(err); !slices.Equal(got, fields) {
		tb.Fatalf("%s: invalid fields = %q, want %q (error %v)", call, got, fields, err)
	}
}

// checkFieldDetails fails tb unless err is an *triggers.Error with code and a
// non-empty details list of fields, each with a message. It is what every
// validation failure must look like on the wire (DESIGN §1.2). A field name
// may be empty: a body member or query parameter named "" is named so.
func checkFieldDetails(tb testing.TB, call string, err error, code triggers.Code) {
	tb.Helper()
	checkCode(tb, call, err, code)
	var e *triggers.Error
	errors.As(err, &e)
	fields, ok := e.Details["fields"].([]triggers.FieldError)
	if !ok || len(fields) == 0 {
		tb.Fatalf("%s: details = %#v, want a non-empty list of fields", call, e.Details)
	}
	for _, f := range fields {
		if f.Message == "" {
			tb.Fatalf("%s: field error %#v has no message", call, f)
		}
	}
}
