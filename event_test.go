package triggers_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/triggersapi/triggers"
)

// parseNewEventTests are the cases of TestParseNewEvent; they also seed
// FuzzParseNewEvent. For a case with fields set, the body must be refused
// with exactly those invalid fields, in order; otherwise it must give want
// (whose RequestHash is not compared).
var parseNewEventTests = []struct {
	name   string
	body   string
	header string // Idempotency-Key header
	prefix string
	want   triggers.NewEvent
	fields []string
}{
	{
		name: "OK",
		body: `{"source":"billing","event_type":"invoice.paid","payload":{"id":1}}`,
		want: triggers.NewEvent{Source: "billing", EventType: "invoice.paid", Payload: raw(`{"id":1}`),
			Metadata: raw(`{"priority":"normal"}`), Priority: triggers.PriorityNormal},
	},
	{
		name: "OKTrimmed",
		body: `{"source":"  billing\t","event_type":"\n invoice.paid\u00a0","payload":{"id":1}}`,
		want: triggers.NewEvent{Source: "billing", EventType: "invoice.paid", Payload: raw(`{"id":1}`),
			Metadata: raw(`{"priority":"normal"}`), Priority: triggers.PriorityNormal},
	},
	{
		name: "OKFieldOrder",
		body: `{"payload":{"id":1},"metadata":{},"event_type":"e","source":"s"}`,
		want: sEvent(`{"priority":"normal"}`, triggers.PriorityNormal, ""),
	},
	{
		name: "OKMetadataNull",
		body: `{"source":"s","event_type":"e","payload":{"id":1},"metadata":null}`,
		want: sEvent(`{"priority":"normal"}`, triggers.PriorityNormal, ""),
	},
	{
		name: "OKMetadataPriorityAddedFirst",
		body: `{"source":"s","event_type":"e","payload":{"id":1},"metadata":{"b":"x", "a":[1, 2],"correlation_id":"c-1"}}`,
		want: sEvent(`{"priority":"normal","b":"x","a":[1,2],"correlation_id":"c-1"}`, triggers.PriorityNormal, ""),
	},
	{
		name: "OKPriorityHigh",
		body: `{"source":"s","event_type":"e","payload":{"id":1},"metadata":{"x":true,"priority":"high"}}`,
		want: sEvent(`{"x":true,"priority":"high"}`, triggers.PriorityHigh, ""),
	},
	{
		name: "OKPriorityLow",
		body: `{"source":"s","event_type":"e","payload":{"id":1},"metadata":{"priority":"low"}}`,
		want: sEvent(`{"priority":"low"}`, triggers.PriorityLow, ""),
	},
	{
		name: "OKPriorityNormalExplicit",
		body: `{"source":"s","event_type":"e","payload":{"id":1},"metadata":{"priority":"normal","n":null}}`,
		want: sEvent(`{"priority":"normal","n":null}`, triggers.PriorityNormal, ""),
	},
	{
		name: "OKWhitespaceCompacted",
		body: "{ \"source\" : \"s\" ,\n\t\"event_type\":\"e\",\r\n \"payload\" : { \"a\" : [ 1 , { \"b\" : \"c d\" } ] , \"z\" : { } } ,\n\"metadata\": { \"k\" : \" v \" } }\n",
		want: triggers.NewEvent{Source: "s", EventType: "e", Payload: raw(`{"a":[1,{"b":"c d"}],"z":{}}`),
			Metadata: raw(`{"priority":"normal","k":" v "}`), Priority: triggers.PriorityNormal},
	},
	{
		name: "OKNumbersKeepDigits",
		body: `{"source":"s","event_type":"e","payload":{"big":123456789012345678901234567890,"max":9007199254740993,"f":0.1000000000000000055511151231257827,"e":1.5E+300,"neg":-0.0,"tiny":1e-400},"metadata":{"order":18446744073709551617}}`,
		want: triggers.NewEvent{Source: "s", EventType: "e",
			Payload:  raw(`{"big":123456789012345678901234567890,"max":9007199254740993,"f":0.1000000000000000055511151231257827,"e":1.5E+300,"neg":-0.0,"tiny":1e-400}`),
			Metadata: raw(`{"priority":"normal","order":18446744073709551617}`), Priority: triggers.PriorityNormal},
	},
	{
		name: "OKStringsAsSent",
		body: `{"source":"caf\u00e9","event_type":"日本","payload":{"s":"h\u00e9llo é 😀 \"q\" \\ \/ \ud83d\ude00 <&>","":"empty key"}}`,
		want: triggers.NewEvent{Source: "café", EventType: "日本",
			Payload:  raw(`{"s":"h\u00e9llo é 😀 \"q\" \\ \/ \ud83d\ude00 <&>","":"empty key"}`),
			Metadata: raw(`{"priority":"normal"}`), Priority: triggers.PriorityNormal},
	},
	{
		name: "OKNested",
		body: `{"source":"s","event_type":"e","payload":{"a":{"b":{"c":[[[{"d":[true,false,null]}]]]}}}}`,
		want: triggers.NewEvent{Source: "s", EventType: "e", Payload: raw(`{"a":{"b":{"c":[[[{"d":[true,false,null]}]]]}}}`),
			Metadata: raw(`{"priority":"normal"}`), Priority: triggers.PriorityNormal},
	},
	{
		name: "OKLongest",
		body: `{"source":"` + strings.Repeat("é", 100) + `","event_type":"` + strings.Repeat("x", 100) + `","payload":{"id":1},"metadata":{"correlation_id":"` + strings.Repeat("ü", 255) + `","idempotency_key":"` + strings.Repeat("k", 255) + `"}}`,
		want: triggers.NewEvent{Source: strings.Repeat("é", 100), EventType: strings.Repeat("x", 100), Payload: raw(`{"id":1}`),
			Metadata:       raw(`{"priority":"normal","correlation_id":"` + strings.Repeat("ü", 255) + `","idempotency_key":"` + strings.Repeat("k", 255) + `"}`),
			Priority:       triggers.PriorityNormal,
			IdempotencyKey: strings.Repeat("k", 255)},
	},
	{
		name: "OKIdempotencyKeyInMetadata",
		body: `{"source":"s","event_type":"e","payload":{"id":1},"metadata":{"idempotency_key":"k-1"}}`,
		want: sEvent(`{"priority":"normal","idempotency_key":"k-1"}`, triggers.PriorityNormal, "k-1"),
	},
	{
		name:   "OKIdempotencyKeyHeader",
		body:   `{"source":"s","event_type":"e","payload":{"id":1}}`,
		header: "h-1",
		want:   sEvent(`{"priority":"normal"}`, triggers.PriorityNormal, "h-1"),
	},
	{
		name:   "OKIdempotencyKeyHeaderLongest",
		body:   `{"source":"s","event_type":"e","payload":{"id":1}}`,
		header: strings.Repeat("h", 255),
		want:   sEvent(`{"priority":"normal"}`, triggers.PriorityNormal, strings.Repeat("h", 255)),
	},
	{
		name:   "OKIdempotencyKeysOf255Runes",
		body:   `{"source":"s","event_type":"e","payload":{"id":1},"metadata":{"idempotency_key":"` + strings.Repeat("ö", 255) + `"}}`,
		header: strings.Repeat("ö", 255),
		want:   sEvent(`{"priority":"normal","idempotency_key":"`+strings.Repeat("ö", 255)+`"}`, triggers.PriorityNormal, strings.Repeat("ö", 255)),
	},
	{
		name: "OKNamesEqualOnlyInOtherObjects",
		body: `{"source":"s","event_type":"e","payload":{"a":{"a":{"a":1}},"b":[{"a":1},{"a":1}]},"metadata":{"x":{"x":1}}}`,
		want: triggers.NewEvent{Source: "s", EventType: "e", Payload: raw(`{"a":{"a":{"a":1}},"b":[{"a":1},{"a":1}]}`),
			Metadata: raw(`{"priority":"normal","x":{"x":1}}`), Priority: triggers.PriorityNormal},
	},
	{
		name: "OKNamesDifferingInCase",
		body: `{"source":"s","event_type":"e","payload":{"a":1,"A":2,"\u00e9":3,"e\u0301":4}}`,
		want: triggers.NewEvent{Source: "s", EventType: "e", Payload: raw(`{"a":1,"A":2,"\u00e9":3,"e\u0301":4}`),
			Metadata: raw(`{"priority":"normal"}`), Priority: triggers.PriorityNormal},
	},
	{
		name: "OKReplacementCharacterAndSurrogatePairs",
		body: `{"source":"s\ufffd","event_type":"e","payload":{"\ud83d\ude00":"\ufffd \uD83D\uDE00 \udbff\udfff �"},"metadata":{"k":"\ud800\udc00"}}`,
		want: triggers.NewEvent{Source: "s\ufffd", EventType: "e", Payload: raw(`{"\ud83d\ude00":"\ufffd \uD83D\uDE00 \udbff\udfff �"}`),
			Metadata: raw(`{"priority":"normal","k":"\ud800\udc00"}`), Priority: triggers.PriorityNormal},
	},
	{
		name: "OKDepthAtTheLimit",
		body: `{"source":"s","event_type":"e","payload":` + nested(triggers.MaxJSONDepth) + `,"metadata":` + nested(triggers.MaxJSONDepth) + `}`,
		want: triggers.NewEvent{Source: "s", EventType: "e", Payload: raw(nested(triggers.MaxJSONDepth)),
			Metadata: raw(`{"priority":"normal",` + nested(triggers.MaxJSONDepth)[1:]), Priority: triggers.PriorityNormal},
	},
	{
		name: "OKMetadataFieldsAtTheLimit",
		body: `{"source":"s","event_type":"e","payload":{"id":1},"metadata":` + manyFields(triggers.MaxMetadataFields) + `}`,
		want: sEvent(`{"priority":"normal",`+manyFields(triggers.MaxMetadataFields)[1:], triggers.PriorityNormal, ""),
	},
	{
		name: "OKMetadataFieldsAtTheLimitBesidesPriority",
		body: `{"source":"s","event_type":"e","payload":{"id":1},"metadata":{"priority":"low",` + manyFields(triggers.MaxMetadataFields)[1:] + `}`,
		want: sEvent(`{"priority":"low",`+manyFields(triggers.MaxMetadataFields)[1:], triggers.PriorityLow, ""),
	},
	{
		name: "OKSourceTrimmedOfControlWhiteSpace",
		body: `{"source":"\n\r\t\u0085shop\u000b\f","event_type":"e","payload":{"id":1}}`,
		want: triggers.NewEvent{Source: "shop", EventType: "e", Payload: raw(`{"id":1}`),
			Metadata: raw(`{"priority":"normal"}`), Priority: triggers.PriorityNormal},
	},
	{
		name:   "OKIdempotencyKeyBothEqual",
		body:   `{"source":"s","event_type":"e","payload":{"id":1},"metadata":{"idempotency_key":"k-1"}}`,
		header: "k-1",
		want:   sEvent(`{"priority":"normal","idempotency_key":"k-1"}`, triggers.PriorityNormal, "k-1"),
	},
	{
		name:   "OKBulkItem",
		body:   `{"source":"s","event_type":"e","payload":{"id":1}}`,
		prefix: "items[3].",
		want:   sEvent(`{"priority":"normal"}`, triggers.PriorityNormal, ""),
	},

	{name: "ErrInvalidUTF8", body: "{\"source\":\"\xff\",\"event_type\":\"e\",\"payload\":{\"id\":1}}", fields: []string{"body"}},
	{name: "ErrEmptyBody", body: ``, fields: []string{"body"}},
	{name: "ErrNotJSON", body: `source=s`, fields: []string{"body"}},
	{name: "ErrTruncated", body: `{"source":"s","event_type":"e","payload":{"id":1}`, fields: []string{"body"}},
	{name: "ErrNull", body: `null`, fields: []string{"body"}},
	{name: "ErrArray", body: `[{"source":"s","event_type":"e","payload":{"id":1}}]`, fields: []string{"body"}},
	{name: "ErrString", body: `"s"`, fields: []string{"body"}},
	{name: "ErrSecondObject", body: `{"source":"s","event_type":"e","payload":{"id":1}} {}`, fields: []string{"body"}},
	{name: "ErrDuplicateField", body: `{"source":"a","source":"b","event_type":"e","payload":{"id":1}}`, fields: []string{"body"}},
	{name: "ErrDuplicatePayloadMember", body: `{"source":"s","event_type":"e","payload":{"id":1,"id":2}}`, fields: []string{"payload.id"}},
	{name: "ErrDuplicateMetadataMember", body: `{"source":"s","event_type":"e","payload":{"id":1},"metadata":{"priority":"low","priority":"high"}}`, fields: []string{"metadata.priority"}},
	// Issue 14, item 3: duplicates deeper down were stored as sent.
	{name: "ErrDuplicateNestedPayloadMember", body: `{"source":"s","event_type":"e","payload":{"a":{"b":1,"b":2}}}`, fields: []string{"payload.a.b"}},
	{name: "ErrDuplicateNestedMetadataMember", body: `{"source":"s","event_type":"e","payload":{"id":1},"metadata":{"x":{"y":1,"y":1}}}`, fields: []string{"metadata.x.y"}},
	{name: "ErrDuplicateInArray", body: `{"source":"s","event_type":"e","payload":{"a":[{"x":1},{"y":1,"z":[{"w":0,"w":0}]}]}}`, fields: []string{"payload.a[1].z[0].w"}},
	{name: "ErrDuplicateEscapedName", body: `{"source":"s","event_type":"e","payload":{"a":{"\u0062":1,"b":2}}}`, fields: []string{"payload.a.b"}},
	{name: "ErrDuplicateNameNotSimple", body: `{"source":"s","event_type":"e","payload":{"a.b":{"c d":1,"c\u0020d":2}}}`, fields: []string{`payload["a.b"]["c\u0020d"]`}},
	{name: "ErrDuplicateEmptyName", body: `{"source":"s","event_type":"e","payload":{"":1,"":2}}`, fields: []string{`payload[""]`}},
	{name: "ErrDuplicateFarApart", body: `{"source":"s","event_type":"e","payload":` + manyFields(40)[:len(manyFields(40))-1] + `,"k0":0}}`, fields: []string{"payload.k0"}},
	{name: "ErrDuplicateBulkItem", body: `{"source":"s","event_type":"e","payload":{"a":{"b":1,"b":2}}}`, prefix: "items[3].", fields: []string{"items[3].payload.a.b"}},
	// Issue 14, item 3: strings that are not Unicode after unescaping.
	{name: "ErrLoneHighSurrogate", body: `{"source":"s","event_type":"e","payload":{"s":"\ud800"}}`, fields: []string{"payload.s"}},
	{name: "ErrLoneLowSurrogate", body: `{"source":"s","event_type":"e","payload":{"s":"\udfff"}}`, fields: []string{"payload.s"}},
	{name: "ErrSurrogatesReversed", body: `{"source":"s","event_type":"e","payload":{"s":"\udc00\ud800"}}`, fields: []string{"payload.s"}},
	{name: "ErrHighSurrogateThenText", body: `{"source":"s","event_type":"e","payload":{"s":"\uD83Dx\uDE00"}}`, fields: []string{"payload.s"}},
	{name: "ErrHighSurrogateThenOtherEscape", body: `{"source":"s","event_type":"e","payload":{"s":"\ud83d\n"}}`, fields: []string{"payload.s"}},
	{name: "ErrTwoHighSurrogates", body: `{"source":"s","event_type":"e","payload":{"s":"\ud83d\ud83d"}}`, fields: []string{"payload.s"}},
	{name: "ErrLoneSurrogateInArray", body: `{"source":"s","event_type":"e","payload":{"a":["ok","\ud800"]}}`, fields: []string{"payload.a[1]"}},
	{name: "ErrLoneSurrogateInName", body: `{"source":"s","event_type":"e","payload":{"a":{"\udfff":1}}}`, fields: []string{`payload.a["\udfff"]`}},
	{name: "ErrLoneSurrogateInMetadata", body: `{"source":"s","event_type":"e","payload":{"id":1},"metadata":{"correlation_id":"\ud800"}}`, fields: []string{"metadata.correlation_id"}},
	{name: "ErrLoneSurrogateInSource", body: `{"source":"\ud800","event_type":"\udfffe","payload":{"id":1}}`, fields: []string{"source", "event_type"}},
	// Issue 14, item 4: a depth limit.
	{name: "ErrPayloadTooDeep", body: `{"source":"s","event_type":"e","payload":` + nested(triggers.MaxJSONDepth+1) + `}`, fields: []string{"payload" + strings.Repeat(".a", triggers.MaxJSONDepth)}},
	{name: "ErrPayloadTooDeepArrays", body: `{"source":"s","event_type":"e","payload":{"a":` + strings.Repeat("[", 9990) + strings.Repeat("]", 9990) + `}}`, fields: []string{"payload.a" + strings.Repeat("[0]", triggers.MaxJSONDepth-1)}},
	{name: "ErrMetadataTooDeep", body: `{"source":"s","event_type":"e","payload":{"id":1},"metadata":` + nested(triggers.MaxJSONDepth+1) + `}`, fields: []string{"metadata" + strings.Repeat(".a", triggers.MaxJSONDepth)}},
	// Issue 14, item 1: a bound on what a create indexes.
	{name: "ErrMetadataTooManyFields", body: `{"source":"s","event_type":"e","payload":{"id":1},"metadata":` + manyFields(triggers.MaxMetadataFields+1) + `}`, fields: []string{"metadata"}},
	{name: "ErrMetadataTooManyFieldsWithPriority", body: `{"source":"s","event_type":"e","payload":{"id":1},"metadata":{"priority":"low",` + manyFields(triggers.MaxMetadataFields + 1)[1:] + `}`, fields: []string{"metadata"}},
	// Issue 14, item 6: control and format characters in names.
	{name: "ErrSourceNUL", body: `{"source":"a\u0000b","event_type":"e","payload":{"id":1}}`, fields: []string{"source"}},
	{name: "ErrSourceNewline", body: `{"source":"a\nb","event_type":"e","payload":{"id":1}}`, fields: []string{"source"}},
	{name: "ErrSourceEscape", body: `{"source":"a\u001b[31mb","event_type":"e","payload":{"id":1}}`, fields: []string{"source"}},
	{name: "ErrSourceDEL", body: `{"source":"a\u007fb","event_type":"e","payload":{"id":1}}`, fields: []string{"source"}},
	{name: "ErrSourceC1Control", body: `{"source":"a\u009bb","event_type":"e","payload":{"id":1}}`, fields: []string{"source"}},
	{name: "ErrSourceBidiOverride", body: `{"source":"shop\u202egpj.exe","event_type":"e","payload":{"id":1}}`, fields: []string{"source"}},
	{name: "ErrSourceBidiIsolate", body: "{\"source\":\"shop\u2066x\",\"event_type\":\"e\",\"payload\":{\"id\":1}}", fields: []string{"source"}},
	{name: "ErrSourceZeroWidthSpace", body: `{"source":"\u200bshop","event_type":"e","payload":{"id":1}}`, fields: []string{"source"}},
	{name: "ErrSourceByteOrderMark", body: `{"source":"\ufeffshop","event_type":"e","payload":{"id":1}}`, fields: []string{"source"}},
	{name: "ErrSourceLineSeparator", body: `{"source":"a\u2028b","event_type":"e","payload":{"id":1}}`, fields: []string{"source"}},
	{name: "ErrEventTypeTab", body: `{"source":"s","event_type":"a\tb","payload":{"id":1}}`, fields: []string{"event_type"}},
	{name: "ErrEventTypeZeroWidthJoiner", body: "{\"source\":\"s\",\"event_type\":\"a\u200db\",\"payload\":{\"id\":1}}", fields: []string{"event_type"}},
	{name: "ErrEventTypeSoftHyphen", body: `{"source":"s","event_type":"in\u00advoice","payload":{"id":1}}`, fields: []string{"event_type"}},
	{name: "ErrUnknownField", body: `{"source":"s","event_type":"e","payload":{"id":1},"extra":1}`, fields: []string{"extra"}},
	{name: "ErrUnknownFieldEmptyName", body: `{"":"","source":"s","event_type":"e","payload":{"id":1}}`, fields: []string{""}},
	{name: "ErrUnknownFieldCase", body: `{"Source":"s","source":"s","event_type":"e","payload":{"id":1}}`, fields: []string{"Source"}},
	{name: "ErrUnknownFields", body: `{"source":"s","event_type":"e","payload":{"id":1},"zz":1,"aa":null,"status":"pending"}`, fields: []string{"aa", "status", "zz"}},
	{name: "ErrSourceRequired", body: `{"event_type":"e","payload":{"id":1}}`, fields: []string{"source"}},
	{name: "ErrSourceNull", body: `{"source":null,"event_type":"e","payload":{"id":1}}`, fields: []string{"source"}},
	{name: "ErrSourceBlank", body: `{"source":" \t\n\u3000","event_type":"e","payload":{"id":1}}`, fields: []string{"source"}},
	{name: "ErrSourceEmpty", body: `{"source":"","event_type":"e","payload":{"id":1}}`, fields: []string{"source"}},
	{name: "ErrSourceNotString", body: `{"source":5,"event_type":"e","payload":{"id":1}}`, fields: []string{"source"}},
	{name: "ErrSourceObject", body: `{"source":{},"event_type":"e","payload":{"id":1}}`, fields: []string{"source"}},
	{name: "ErrSourceTooLong", body: `{"source":"` + strings.Repeat("é", 101) + `","event_type":"e","payload":{"id":1}}`, fields: []string{"source"}},
	{name: "ErrEventTypeRequired", body: `{"source":"s","payload":{"id":1}}`, fields: []string{"event_type"}},
	{name: "ErrEventTypeBlank", body: `{"source":"s","event_type":"  ","payload":{"id":1}}`, fields: []string{"event_type"}},
	{name: "ErrEventTypeTooLong", body: `{"source":"s","event_type":"` + strings.Repeat("x", 101) + `","payload":{"id":1}}`, fields: []string{"event_type"}},
	{name: "ErrPayloadRequired", body: `{"source":"s","event_type":"e"}`, fields: []string{"payload"}},
	{name: "ErrPayloadNull", body: `{"source":"s","event_type":"e","payload":null}`, fields: []string{"payload"}},
	{name: "ErrPayloadEmpty", body: `{"source":"s","event_type":"e","payload":{ }}`, fields: []string{"payload"}},
	{name: "ErrPayloadArray", body: `{"source":"s","event_type":"e","payload":[1]}`, fields: []string{"payload"}},
	{name: "ErrPayloadString", body: `{"source":"s","event_type":"e","payload":"{\"id\":1}"}`, fields: []string{"payload"}},
	{name: "ErrPayloadNumber", body: `{"source":"s","event_type":"e","payload":1}`, fields: []string{"payload"}},
	{name: "ErrMetadataArray", body: `{"source":"s","event_type":"e","payload":{"id":1},"metadata":[]}`, fields: []string{"metadata"}},
	{name: "ErrMetadataString", body: `{"source":"s","event_type":"e","payload":{"id":1},"metadata":"high"}`, fields: []string{"metadata"}},
	{name: "ErrPriorityUnknown", body: `{"source":"s","event_type":"e","payload":{"id":1},"metadata":{"priority":"urgent"}}`, fields: []string{"metadata.priority"}},
	{name: "ErrPriorityCase", body: `{"source":"s","event_type":"e","payload":{"id":1},"metadata":{"priority":"HIGH"}}`, fields: []string{"metadata.priority"}},
	{name: "ErrPriorityEmpty", body: `{"source":"s","event_type":"e","payload":{"id":1},"metadata":{"priority":""}}`, fields: []string{"metadata.priority"}},
	{name: "ErrPriorityNull", body: `{"source":"s","event_type":"e","payload":{"id":1},"metadata":{"priority":null}}`, fields: []string{"metadata.priority"}},
	{name: "ErrPriorityNumber", body: `{"source":"s","event_type":"e","payload":{"id":1},"metadata":{"priority":1}}`, fields: []string{"metadata.priority"}},
	{name: "ErrCorrelationIDNotString", body: `{"source":"s","event_type":"e","payload":{"id":1},"metadata":{"correlation_id":42}}`, fields: []string{"metadata.correlation_id"}},
	{name: "ErrCorrelationIDNull", body: `{"source":"s","event_type":"e","payload":{"id":1},"metadata":{"correlation_id":null}}`, fields: []string{"metadata.correlation_id"}},
	{name: "ErrCorrelationIDTooLong", body: `{"source":"s","event_type":"e","payload":{"id":1},"metadata":{"correlation_id":"` + strings.Repeat("ü", 256) + `"}}`, fields: []string{"metadata.correlation_id"}},
	{name: "ErrIdempotencyKeyEmpty", body: `{"source":"s","event_type":"e","payload":{"id":1},"metadata":{"idempotency_key":""}}`, fields: []string{"metadata.idempotency_key"}},
	{name: "ErrIdempotencyKeyNull", body: `{"source":"s","event_type":"e","payload":{"id":1},"metadata":{"idempotency_key":null}}`, fields: []string{"metadata.idempotency_key"}},
	{name: "ErrIdempotencyKeyNotString", body: `{"source":"s","event_type":"e","payload":{"id":1},"metadata":{"idempotency_key":7}}`, fields: []string{"metadata.idempotency_key"}},
	{name: "ErrIdempotencyKeyTooLong", body: `{"source":"s","event_type":"e","payload":{"id":1},"metadata":{"idempotency_key":"` + strings.Repeat("k", 256) + `"}}`, fields: []string{"metadata.idempotency_key"}},
	{name: "ErrIdempotencyKeyTooManyRunes", body: `{"source":"s","event_type":"e","payload":{"id":1},"metadata":{"idempotency_key":"` + strings.Repeat("ö", 256) + `"}}`, fields: []string{"metadata.idempotency_key"}},
	{name: "ErrIdempotencyHeaderTooLong", body: `{"source":"s","event_type":"e","payload":{"id":1}}`, header: strings.Repeat("h", 256), fields: []string{"Idempotency-Key"}},
	{name: "ErrIdempotencyHeaderTooManyRunes", body: `{"source":"s","event_type":"e","payload":{"id":1}}`, header: strings.Repeat("ö", 256), fields: []string{"Idempotency-Key"}},
	{name: "ErrIdempotencyHeaderNotUTF8", body: `{"source":"s","event_type":"e","payload":{"id":1}}`, header: "k\xff", fields: []string{"Idempotency-Key"}},
	{name: "ErrIdempotencyHeaderTab", body: `{"source":"s","event_type":"e","payload":{"id":1}}`, header: "k\t1", fields: []string{"Idempotency-Key"}},
	{name: "ErrIdempotencyHeaderBidiOverride", body: `{"source":"s","event_type":"e","payload":{"id":1}}`, header: "k\u202e1", fields: []string{"Idempotency-Key"}},
	{name: "ErrIdempotencyHeaderDiffers", body: `{"source":"s","event_type":"e","payload":{"id":1},"metadata":{"idempotency_key":"a"}}`, header: "b", fields: []string{"Idempotency-Key"}},
	{name: "ErrEmptyObject", body: `{}`, fields: []string{"source", "event_type", "payload"}},
	{
		name:   "ErrEverything",
		body:   `{"x":1,"source":1,"event_type":"","payload":[],"metadata":{"priority":"p","correlation_id":[],"idempotency_key":""}}`,
		header: "h",
		fields: []string{"x", "source", "event_type", "payload", "metadata.priority", "metadata.correlation_id", "metadata.idempotency_key"},
	},
	{name: "ErrBulkItemBody", body: `[]`, prefix: "items[3].", fields: []string{"items[3]"}},
	{
		name:   "ErrBulkItemFields",
		body:   `{"extra":1,"source":" ","event_type":"e","payload":{"id":1},"metadata":{"priority":"p"}}`,
		prefix: "items[3].",
		fields: []string{"items[3].extra", "items[3].source", "items[3].metadata.priority"},
	},
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

// nested returns an object nested depth levels deep: {"a":{"a":...{}}}.
func nested(depth int) string {
	return strings.Repeat(`{"a":`, depth-1) + "{}" + strings.Repeat("}", depth-1)
}

// manyFields returns an object of n members {"k0":0,"k1":1,...}.
func manyFields(n int) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%d":%d`, i, i)
	}
	b.WriteByte('}')
	return b.String()
}

// sEvent is the parse of a body with source "s", event type "e" and payload
// {"id":1}, the shape most cases share, with the stored metadata, the
// priority and the idempotency key that case expects.
func sEvent(metadata string, p triggers.Priority, idempotencyKey string) triggers.NewEvent {
	return triggers.NewEvent{Source: "s", EventType: "e", Payload: raw(`{"id":1}`),
		Metadata: raw(metadata), Priority: p, IdempotencyKey: idempotencyKey}
}

func TestParseNewEvent(t *testing.T) {
	for _, tt := range parseNewEventTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := triggers.ParseNewEvent([]byte(tt.body), tt.header, tt.prefix)
			if tt.fields != nil {
				checkInvalidFields(t, "ParseNewEvent", err, tt.fields...)
				return
			}
			if err != nil {
				t.Fatalf("ParseNewEvent(%q, %q, %q) error = %v", tt.body, tt.header, tt.prefix, err)
			}
			if (got.IdempotencyKey != "") != (len(got.RequestHash) == 64) {
				t.Errorf("RequestHash = %q with IdempotencyKey %q, want 64 hex digits exactly when there is a key", got.RequestHash, got.IdempotencyKey)
			}
			got.RequestHash = ""
			if got.Source != tt.want.Source || got.EventType != tt.want.EventType ||
				string(got.Payload) != string(tt.want.Payload) || string(got.Metadata) != string(tt.want.Metadata) ||
				got.Priority != tt.want.Priority || got.IdempotencyKey != tt.want.IdempotencyKey {
				t.Errorf("ParseNewEvent(%q, %q, %q) =\n%s\nwant\n%s", tt.body, tt.header, tt.prefix, describeNewEvent(got), describeNewEvent(tt.want))
			}
		})
	}
}

func describeNewEvent(ne triggers.NewEvent) string {
	return "source=" + ne.Source + " event_type=" + ne.EventType + " payload=" + string(ne.Payload) +
		" metadata=" + string(ne.Metadata) + " priority=" + string(ne.Priority) + " idempotency_key=" + ne.IdempotencyKey
}

// TestParseNewEvent_trailingGarbage is a regression test: data after the
// body's object that is not itself a JSON value ("}garbage", "}]") was
// accepted, because only trailing data that json.Decoder.Token could read
// was refused.
func TestParseNewEvent_trailingGarbage(t *testing.T) {
	for _, body := range []string{
		`{"source":"s","event_type":"e","payload":{"id":1}}garbage`,
		`{"source":"s","event_type":"e","payload":{"id":1}}}`,
		`{"source":"s","event_type":"e","payload":{"id":1}}]`,
		`{"source":"s","event_type":"e","payload":{"id":1}},`,
		`{"source":"s","event_type":"e","payload":{"id":1}}:`,
	} {
		_, err := triggers.ParseNewEvent([]byte(body), "", "")
		checkInvalidFields(t, "ParseNewEvent("+body+")", err, "body")
	}
}

func TestDecodeStrict(t *testing.T) {
	type item struct {
		EventIDs []string `json:"event_ids"`
	}
	t.Run("OK", func(t *testing.T) {
		var v item
		if err := triggers.DecodeStrict([]byte(` {"event_ids":["a","b"]} `+"\n"), &v); err != nil || len(v.EventIDs) != 2 {
			t.Fatalf("DecodeStrict() = %v, %v, want 2 ids", v, err)
		}
	})
	for name, body := range map[string]string{
		"ErrUnknownField":  `{"event_ids":[],"x":1}`,
		"ErrWrongType":     `{"event_ids":"a"}`,
		"ErrNotJSON":       `event_ids=a`,
		"ErrEmpty":         ``,
		"ErrTruncated":     `{"event_ids":[`,
		"ErrSecondObject":  `{"event_ids":[]} {}`,
		"ErrInvalidUTF8":   "{\"event_ids\":[\"\xff\"]}",
		"ErrTrailingValue": `{"event_ids":[]} 1`,
	} {
		t.Run(name, func(t *testing.T) {
			var v item
			if err := triggers.DecodeStrict([]byte(body), &v); err == nil {
				t.Fatalf("DecodeStrict(%q) = nil, want an error", body)
			}
		})
	}
	t.Run("OKEscapedName", func(t *testing.T) {
		var v item
		if err := triggers.DecodeStrict([]byte(`{"\u0065vent_ids":["a"]}`), &v); err != nil || len(v.EventIDs) != 1 {
			t.Fatalf("DecodeStrict() = %v, %v, want 1 id", v, err)
		}
	})
	// Names encoding/json accepts, letting the last one count or matching
	// the field's name without regard to case, are refused naming the body.
	for name, body := range map[string]string{
		"ErrDuplicate":        `{"event_ids":["a"],"event_ids":["b"]}`,
		"ErrDuplicateEscaped": `{"event_ids":["a"],"\u0065vent_ids":["b"]}`,
		"ErrDuplicateNull":    `{"event_ids":null,"event_ids":["b"]}`,
		"ErrUpperCase":        `{"EVENT_IDS":["a"]}`,
		"ErrCaseFolded":       `{"event_idſ":["a"]}`,
		"ErrSecondCaseFolded": `{"event_ids":["a"],"Event_Ids":["b"]}`,
	} {
		t.Run(name, func(t *testing.T) {
			var v item
			checkInvalidFields(t, "DecodeStrict("+body+")", triggers.DecodeStrict([]byte(body), &v), "body")
		})
	}
	t.Run("ErrTrailingGarbage", func(t *testing.T) {
		for _, body := range []string{`{"event_ids":[]}garbage`, `{"event_ids":[]}}`, `{"event_ids":[]}]`} {
			var v item
			if err := triggers.DecodeStrict([]byte(body), &v); err == nil {
				t.Errorf("DecodeStrict(%q) = nil, want an error", body)
			}
		}
	})
}

func TestIdempotencyKeyHeader(t *testing.T) {
	for _, tt := range []struct {
		name   string
		values []string
		want   string
		err    bool
	}{
		{name: "None"},
		{name: "One", values: []string{"order-1"}, want: "order-1"},
		{name: "EmptyIsAbsent", values: []string{""}},
		{name: "ErrTwice", values: []string{"a", "b"}, err: true},
		{name: "ErrTwiceEqual", values: []string{"a", "a"}, err: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := triggers.IdempotencyKeyHeader(tt.values)
			if tt.err {
				checkInvalidFields(t, fmt.Sprintf("IdempotencyKeyHeader(%q)", tt.values), err, "Idempotency-Key")
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("IdempotencyKeyHeader(%q) = %q, %v, want %q", tt.values, got, err, tt.want)
			}
		})
	}
}

func TestParseNewEvent_RequestHash(t *testing.T) {
	const base = `{"source":"s","event_type":"e","payload":{"a":1,"b":[1,{"c":"d","e":2.50}]},"metadata":{"correlation_id":"c","x":{"y":1,"z":2}}}`
	hash := func(t *testing.T, body, header string) string {
		t.Helper()
		if header == "" && !strings.Contains(body, `"idempotency_key"`) {
			header = "k" // the hash is computed only for a request with a key
		}
		ne, err := triggers.ParseNewEvent([]byte(body), header, "")
		if err != nil {
			t.Fatalf("ParseNewEvent(%q) error = %v", body, err)
		}
		if len(ne.RequestHash) != 64 {
			t.Fatalf("ParseNewEvent(%q, header %q).RequestHash = %q, want 64 hex digits", body, header, ne.RequestHash)
		}
		return ne.RequestHash
	}
	want := hash(t, base, "")

	// The same request: the same JSON values, whatever their layout, member
	// order and escapes, wherever the idempotency key comes, and with or
	// without the default priority.
	t.Run("OKEqual", func(t *testing.T) {
		for _, tt := range []struct{ body, header string }{
			{base, ""},
			{"{\n  \"source\": \"s\",\n  \"event_type\": \"e\",\n  \"payload\": {\"a\": 1, \"b\": [1, {\"c\": \"d\", \"e\": 2.50}]},\n  \"metadata\": {\"correlation_id\": \"c\", \"x\": {\"y\": 1, \"z\": 2}}\n}", ""},
			{`{"metadata":{"x":{"z":2,"y":1},"correlation_id":"c"},"payload":{"b":[1,{"e":2.50,"c":"d"}],"a":1},"event_type":"e","source":"s"}`, ""},
			{`{"source":" s ","event_type":"e\t","payload":{"a":1,"b":[1,{"c":"\u0064","e":2.50}]},"metadata":{"correlation_id":"\u0063","x":{"y":1,"z":2}}}`, ""},
			{`{"source":"s","event_type":"e","payload":{"a":1,"b":[1,{"c":"d","e":2.50}]},"metadata":{"priority":"normal","correlation_id":"c","x":{"y":1,"z":2}}}`, ""},
			{`{"source":"s","event_type":"e","payload":{"a":1,"b":[1,{"c":"d","e":2.50}]},"metadata":{"correlation_id":"c","x":{"y":1,"z":2},"priority":"normal"}}`, ""},
			{`{"source":"s","event_type":"e","payload":{"a":1,"b":[1,{"c":"d","e":2.50}]},"metadata":{"correlation_id":"c","x":{"y":1,"z":2},"idempotency_key":"k"}}`, ""},
			{`{"source":"s","event_type":"e","payload":{"a":1,"b":[1,{"c":"d","e":2.50}]},"metadata":{"correlation_id":"c","x":{"y":1,"z":2},"idempotency_key":"k"}}`, "k"},
			{base, "k"},
		} {
			if got := hash(t, tt.body, tt.header); got != want {
				t.Errorf("RequestHash(%q, header %q) = %s, want %s (as for %q)", tt.body, tt.header, got, want, base)
			}
		}
	})
	t.Run("OKEqualDefaultMetadata", func(t *testing.T) {
		want := hash(t, `{"source":"s","event_type":"e","payload":{"a":1}}`, "")
		for _, body := range []string{
			`{"source":"s","event_type":"e","payload":{"a":1},"metadata":null}`,
			`{"source":"s","event_type":"e","payload":{"a":1},"metadata":{}}`,
			`{"source":"s","event_type":"e","payload":{"a":1},"metadata":{"priority":"normal"}}`,
			`{"source":"s","event_type":"e","payload":{"a":1},"metadata":{"idempotency_key":"k"}}`,
		} {
			if got := hash(t, body, ""); got != want {
				t.Errorf("RequestHash(%q) = %s, want %s", body, got, want)
			}
		}
	})
	t.Run("OKDifferent", func(t *testing.T) {
		seen := map[string]string{want: base}
		for _, body := range []string{
			`{"source":"s2","event_type":"e","payload":{"a":1,"b":[1,{"c":"d","e":2.50}]},"metadata":{"correlation_id":"c","x":{"y":1,"z":2}}}`,
			`{"source":"s","event_type":"e2","payload":{"a":1,"b":[1,{"c":"d","e":2.50}]},"metadata":{"correlation_id":"c","x":{"y":1,"z":2}}}`,
			`{"source":"s","event_type":"e","payload":{"a":2,"b":[1,{"c":"d","e":2.50}]},"metadata":{"correlation_id":"c","x":{"y":1,"z":2}}}`,
			`{"source":"s","event_type":"e","payload":{"a":1,"b":[{"c":"d","e":2.50},1]},"metadata":{"correlation_id":"c","x":{"y":1,"z":2}}}`,
			// Numbers count as written: 2.5 is not 2.50, 1.0 is not 1.
			`{"source":"s","event_type":"e","payload":{"a":1,"b":[1,{"c":"d","e":2.5}]},"metadata":{"correlation_id":"c","x":{"y":1,"z":2}}}`,
			`{"source":"s","event_type":"e","payload":{"a":1.0,"b":[1,{"c":"d","e":2.50}]},"metadata":{"correlation_id":"c","x":{"y":1,"z":2}}}`,
			`{"source":"s","event_type":"e","payload":{"a":"1","b":[1,{"c":"d","e":2.50}]},"metadata":{"correlation_id":"c","x":{"y":1,"z":2}}}`,
			`{"source":"s","event_type":"e","payload":{"a":1,"b":[1,{"c":"d","e":2.50}],"f":null},"metadata":{"correlation_id":"c","x":{"y":1,"z":2}}}`,
			`{"source":"s","event_type":"e","payload":{"a":1,"b":[1,{"c":"d","e":2.50}]},"metadata":{"correlation_id":"C","x":{"y":1,"z":2}}}`,
			`{"source":"s","event_type":"e","payload":{"a":1,"b":[1,{"c":"d","e":2.50}]},"metadata":{"correlation_id":"c","x":{"y":1,"z":3}}}`,
			`{"source":"s","event_type":"e","payload":{"a":1,"b":[1,{"c":"d","e":2.50}]},"metadata":{"correlation_id":"c","x":{"y":1,"z":2},"priority":"high"}}`,
			`{"source":"s","event_type":"e","payload":{"a":1,"b":[1,{"c":"d","e":2.50}]},"metadata":{"correlation_id":"c","x":{"y":1,"z":2},"idempotency_keys":"k"}}`,
			`{"source":"s","event_type":"e","payload":{"a":1,"b":[1,{"c":"d","e":2.50}]},"metadata":{"correlation_id":"c"}}`,
			`{"source":"s","event_type":"e","payload":{"a":1,"b":[1,{"c":"d","e":2.50}]}}`,
			// Field boundaries count: "s" + "ex" is not "se" + "x".
			`{"source":"se","event_type":"x","payload":{"a":1,"b":[1,{"c":"d","e":2.50}]},"metadata":{"correlation_id":"c","x":{"y":1,"z":2}}}`,
			`{"source":"s","event_type":"ex","payload":{"a":1,"b":[1,{"c":"d","e":2.50}]},"metadata":{"correlation_id":"c","x":{"y":1,"z":2}}}`,
		} {
			got := hash(t, body, "")
			if prev, ok := seen[got]; ok {
				t.Errorf("RequestHash(%q) = RequestHash(%q) = %s, want them different", body, prev, got)
			}
			seen[got] = body
		}
	})
}

// TestParseNewEvent_RequestHashDifferentValues is a regression test for
// issue 14, item 3: requests whose JSON values differ were given one
// RequestHash, so the second replayed the first instead of answering 422.
// A lone surrogate escape decoded to U+FFFD, and of duplicate members only
// the last counted. Each pair must now be told apart: the second request
// refused, or hashed differently.
func TestParseNewEvent_RequestHashDifferentValues(t *testing.T) {
	const head = `{"source":"s","event_type":"e","metadata":{"idempotency_key":"k"},"payload":`
	for _, tt := range []struct{ name, first, second string }{
		{"LoneHighSurrogate", `{"s":"\ufffd"}`, `{"s":"\ud800"}`},
		{"LoneLowSurrogate", `{"s":"\ufffd"}`, `{"s":"\udfff"}`},
		{"SurrogatesReversed", `{"s":"\ufffd\ufffd"}`, `{"s":"\udc00\ud800"}`},
		{"LoneSurrogateInName", `{"\ufffd":1}`, `{"\ud800":1}`},
		{"LoneSurrogatesOfTwoKinds", `{"s":"\udfff"}`, `{"s":"\ud800"}`},
		{"DuplicateFirstValue", `{"a":{"b":2}}`, `{"a":{"b":1,"b":2}}`},
		{"DuplicateValues", `{"a":{"b":1,"b":2}}`, `{"a":{"b":3,"b":2}}`},
		{"DuplicateInMetadataValue", `{"a":1},"metadata":{"idempotency_key":"k","x":{"y":2}}}`, `{"a":1},"metadata":{"idempotency_key":"k","x":{"y":1,"y":2}}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := func(payload string) string {
				if strings.Contains(payload, `"metadata"`) { // the case brings its own metadata
					return `{"source":"s","event_type":"e","payload":` + payload
				}
				return head + payload + "}"
			}
			first, err1 := triggers.ParseNewEvent([]byte(body(tt.first)), "", "")
			second, err2 := triggers.ParseNewEvent([]byte(body(tt.second)), "", "")
			if err1 == nil && err2 == nil && second.RequestHash == first.RequestHash {
				t.Fatalf("ParseNewEvent(%s) has the RequestHash of %s, want one refused, or both hashed differently", body(tt.second), body(tt.first))
			}
		})
	}
}

// TestParseNewEvent_RequestHashStable pins the RequestHash of one request.
// Idempotency records keep the hash for 24 hours, so a change of how it is
// computed would answer a retry across an upgrade with 422 instead of its
// replay: such a change must be deliberate.
func TestParseNewEvent_RequestHashStable(t *testing.T) {
	const body = `{"source":" s ","event_type":"e","payload":{"b":[1,2.50,"x\u00e9<&>"],"a":{"n":null,"t":true}},"metadata":{"idempotency_key":"k","z":1e3}}`
	const want = "518675d4fa38006ffdacc88cd18eb2b9669137f03bbc1b93887c98db90b834e2"
	ne, err := triggers.ParseNewEvent([]byte(body), "", "")
	if err != nil || ne.RequestHash != want {
		t.Fatalf("ParseNewEvent(%s).RequestHash = %q, %v, want %q", body, ne.RequestHash, err, want)
	}
}

// BenchmarkParseNewEvent measures the validation of a create body: a
// typical small event, one with a payload near the 400 KiB limit (nested
// objects and arrays, numbers, escapes), and one with metadata at its limit.
func BenchmarkParseNewEvent(b *testing.B) {
	var big strings.Builder
	big.WriteString(`{"source":"shop","event_type":"order.created","payload":{"lines":[`)
	for i := 0; big.Len() < triggers.MaxEventBytes-200; i++ {
		if i > 0 {
			big.WriteByte(',')
		}
		fmt.Fprintf(&big, `{"sku":"SKU-%d","qty":%d,"price":%d.50,"note":"caf\u00e9 \ud83d\ude00","tags":["a","b"],"attrs":{"x":true,"y":null}}`, i, i%7, i)
	}
	big.WriteString(`]},"metadata":{"idempotency_key":"k-1"}}`)
	for _, bb := range []struct{ name, body string }{
		{"Small", `{"source":"shop","event_type":"order.created","payload":{"order_id":"A-1001","total":42.50,"currency":"EUR"},"metadata":{"priority":"high","correlation_id":"checkout-7f3a"}}`},
		{"Payload400KiB", big.String()},
		{"Metadata64", `{"source":"s","event_type":"e","payload":{"a":1},"metadata":` + manyFields(triggers.MaxMetadataFields) + `}`},
	} {
		b.Run(bb.name, func(b *testing.B) {
			body := []byte(bb.body)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := triggers.ParseNewEvent(body, "", ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
