package httpapi

import (
	"fmt"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
)

func TestQueryParsing(t *testing.T) {
	q := parseQuery("ShowInput=+TRUE+&showHistory=true&showhistory=true&top=+-7&runtimeStatus=Running,%20Completed&runtimeStatus=bogus,running,5" +
		"&createdTimeFrom=2024-05-01T12:00:00%2B02:00&createdTimeTo=2024-05-01T12:00:00+02:00&reason=a+b%20c&bad=%zz&flag")
	if !q.boolean("showInput", false) {
		t.Error("showInput: spaces and case must be accepted")
	}
	if q.boolean("showHistory", false) || !q.boolean("showHistory", true) {
		t.Error(`showHistory given twice is "true,true", not a bool: the default applies`)
	}
	if n, ok := q.integer("top"); !ok || n != -7 {
		t.Errorf("top %d %v", n, ok)
	}
	if got := fmt.Sprint(q.statuses("runtimeStatus")); got != fmt.Sprint([]client.Status{client.Running, client.Completed, client.Terminated}) {
		t.Errorf("statuses %s (names are case-sensitive, numbers accepted, bad tokens dropped)", got)
	}
	if q.statuses("absent") != nil {
		t.Error("absent status list")
	}
	from, ok := q.time("createdTimeFrom")
	if !ok || !from.Equal(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)) || from.Location() != time.UTC {
		t.Errorf("createdTimeFrom %v %v", from, ok)
	}
	if _, ok := q.time("createdTimeTo"); ok {
		t.Error("an unescaped '+' is a space, so the value does not parse and counts as absent")
	}
	if q.str("reason") != "a b c" || q.str("flag") != "" {
		t.Errorf("reason %q", q.str("reason"))
	}
	if _, ok := q.get("bad"); ok {
		t.Error("badly escaped parameters are dropped")
	}
	for _, s := range []string{"2024-05-01", "2024-05-01T12:00:00", "2024-05-01T12:00:00.1234567", "2024-05-01T12:00:00Z", "2024-05-01T14:00:00+02:00"} {
		got, ok := parseTime(s)
		if !ok || got.Location() != time.UTC || got.After(time.Date(2024, 5, 1, 12, 0, 1, 0, time.UTC)) {
			t.Errorf("%s → %v %v", s, got, ok)
		}
	}
	for _, s := range []string{"", "yesterday", "2024-13-01", "1714564800"} {
		if _, ok := parseTime(s); ok {
			t.Errorf("%q parsed", s)
		}
	}
	if d, ok := parseQuery("timeout=1.5").seconds("timeout"); !ok || d != 1500*time.Millisecond {
		t.Errorf("seconds %v %v", d, ok)
	}
}

func TestFormatDouble(t *testing.T) {
	for in, want := range map[float64]string{
		1: "1.0", 2.5: "2.5", -3: "-3.0", 0.0001: "0.0001", 0.00001: "1E-05", 123456789012345: "123456789012345.0",
		1e15: "1E+15", 1.5e300: "1.5E+300", 0.30000000000000004: "0.30000000000000004",
	} {
		if got := formatDouble(in); got != want {
			t.Errorf("%v: %s, want %s", in, got, want)
		}
	}
}

func TestURLEncode(t *testing.T) {
	if got := urlEncode("Az09-_.!*() ~'/é"); got != "Az09-_.!*()+%7E%27%2F%C3%A9" {
		t.Errorf("got %s", got)
	}
}
