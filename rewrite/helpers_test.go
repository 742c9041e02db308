package rewrite_test

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/kafkanat/kafkanat/rewrite"
)

// table parses and compiles text, failing the test on any error.
func table(tb testing.TB, text string) *rewrite.Table {
	tb.Helper()
	rules, err := rewrite.Parse("rules", text)
	if err != nil {
		tb.Fatalf("Parse(%q): %v", text, err)
	}
	t, err := rewrite.Compile(rules)
	if err != nil {
		tb.Fatalf("Compile(%q): %v", text, err)
	}
	return t
}

// equal fails the test unless got and want are deeply equal.
func equal(tb testing.TB, got, want any, context ...any) {
	tb.Helper()
	if !reflect.DeepEqual(got, want) {
		tb.Errorf("%sgot  %#v\nwant %#v", prefix(context), got, want)
	}
}

// noError stops the test on err.
func noError(tb testing.TB, err error, context ...any) {
	tb.Helper()
	if err != nil {
		tb.Fatalf("%sunexpected error: %v", prefix(context), err)
	}
}

func prefix(context []any) string {
	if len(context) == 0 {
		return ""
	}
	return fmt.Sprint(context...) + ":\n"
}
