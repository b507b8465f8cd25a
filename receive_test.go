package triggers_test

import (
	"strings"
	"testing"

	"github.com/triggersapi/triggers"
)

// TestParseReceiveRequest_strict checks that a receive body follows the
// rules of a create's (issue 14, items 3, 4 and 6): its filters refuse what
// the inbox's query parameters refuse, and the body what a create's payload
// refuses, each naming the field.
func TestParseReceiveRequest_strict(t *testing.T) {
	for _, tt := range []struct {
		name   string
		body   string
		fields []string
	}{
		{"ErrSourceNUL", `{"source":"a\u0000b"}`, []string{"source"}},
		{"ErrSourceNewline", `{"source":"a\nb"}`, []string{"source"}},
		{"ErrEventTypeBidiOverride", `{"event_type":"a\u202eb"}`, []string{"event_type"}},
		{"ErrEventTypeZeroWidthSpace", "{\"event_type\":\"\u200bx\"}", []string{"event_type"}},
		{"ErrLoneSurrogateInSource", `{"source":"\ud800"}`, []string{"source"}},
		{"ErrLoneSurrogateInMetadataValue", `{"metadata":{"k":"\udfff"}}`, []string{"metadata.k"}},
		{"ErrDuplicateMetadataKey", `{"metadata":{"k":"a","k":"b"}}`, []string{"metadata.k"}},
		{"ErrTooDeep", `{"metadata":{"k":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}}`,
			[]string{"metadata.k" + strings.Repeat("[0]", triggers.MaxJSONDepth-2)}},
		{"ErrNotUTF8", "{\"source\":\"a\xffb\"}", []string{"body"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := triggers.ParseReceiveRequest([]byte(tt.body))
			checkInvalidFields(t, "ParseReceiveRequest("+tt.body+")", err, tt.fields...)
		})
	}
}
