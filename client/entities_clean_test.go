package client_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/azdurable/azdurable/client"
)

// A clean's continuation token is checked before anything is read: only
// a position among the entities' instance ids, in our form, passes.
func TestCheckCleanToken(t *testing.T) {
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	if err := client.CheckCleanToken(""); err != nil {
		t.Errorf("no token: %v", err)
	}
	if err := client.CheckCleanToken(b64("clean1:@counter@k1")); err != nil {
		t.Errorf("a position among the entities: %v", err)
	}
	for name, token := range map[string]string{
		"not base64url":        "junk!",
		"a table token":        "QGNvdW50ZXJAazI= ",
		"no prefix":            b64("@counter@k1"),
		"another prefix":       b64("after:@counter@k1"),
		"empty position":       b64("clean1:"),
		"outside the entities": b64("clean1:order-1"),
		"not UTF-8":            b64("clean1:@counter@\xff"),
		"too long for a key":   b64("clean1:@counter@" + strings.Repeat("/", 300)),
		"too long":             strings.Repeat("A", 10000),
	} {
		if err := client.CheckCleanToken(token); !errors.Is(err, client.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		} else if len(err.Error()) > 200 {
			t.Errorf("%s: the error repeats the whole token: %v", name, err)
		}
	}
}
