package dashboard

import (
	"html/template"
	"strings"
	"time"

	"github.com/azdurable/azdurable/client"
)

// funcs are the templates' helpers. None of them returns markup: what
// they give is escaped like any other value.
var funcs = template.FuncMap{
	"fmtTime": func(v any) string {
		var t time.Time
		switch x := v.(type) {
		case time.Time:
			t = x
		case *time.Time:
			if x != nil {
				t = *x
			}
		}
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05.000")
	},
	// age is how long ago t was (the oldest message of a queue).
	"age": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		d := time.Since(t)
		if d < 0 {
			d = 0
		}
		return d.Round(time.Second).String()
	},
	"statusClass": func(s any) string {
		switch x := s.(type) {
		case client.Status:
			return "s-" + strings.ToLower(x.String())
		case string:
			return "s-" + strings.ToLower(x)
		}
		return ""
	},
	"scanLimit": func() int { return scanLimit },
	"add":       func(a, b float64) float64 { return a + b },
}
