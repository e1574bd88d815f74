package netjson

import "testing"

func TestParseObjectRejectsTrailingData(t *testing.T) {
	for _, bad := range []string{`{"a":1} x`, `{"a":1}{}`, `{"a":1} ]`, `[1]`, ``, `{"a":}`} {
		if _, err := ParseObject([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	o, err := ParseObject([]byte(" {\"A\":1,\"a\":2} \n"))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := o.Int("A", 32); n != 2 {
		t.Errorf("the last duplicate (any case) should win, got %d", n)
	}
}
